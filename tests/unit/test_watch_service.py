"""The watcher's file handling with a fake anonymiser (no models): routing, recovery, consent."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import pytest

from anonymiser import Action, Box, ImageResult, Kind, Reason, Region, Settings, Status
from anonymiser.consent import Pupil
from anonymiser.settings import TextMode
from anonymiser.watch import Watcher, WatchOptions, format_status, status
from anonymiser.watch.journal import Journal
from tests.watch_fakes import drop


class FakeAnonymiser:
    """Copies the input with a prefix; 'CORRUPT' fails, 'REVIEW' needs review."""

    calls: ClassVar[list[str]] = []

    def __init__(self, settings: Settings, consent: Any, previous: Any) -> None:
        self.settings = settings
        self.consent = consent
        self.pupils: list[Any] = []
        self.face_detector = object()

    def warnings(self) -> list[str]:
        return []

    def check_models(self) -> None:
        """No model files: nothing to check."""

    def process_file(self, src: Path, dst: Path) -> ImageResult:
        FakeAnonymiser.calls.append(str(src))
        data = Path(src).read_bytes()
        if b"CORRUPT" in data:
            return ImageResult(str(src), None, Status.FAILED, error=f"{src}: truncated JPEG")
        Path(dst).write_bytes(b"SAFE:" + data)
        face = Region(Kind.FACE, Box(1, 2, 3, 4), 0.9, Action.BLURRED, Reason.NOT_IDENTIFIED)
        return ImageResult(
            str(src), str(dst), Status.OK, 8, 8, b"REVIEW" in data, ("exif",), (face,)
        )


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    FakeAnonymiser.calls = []


def make_watcher(root: Path, **kw: Any) -> Watcher:
    """One worker, in this process (the fakes count calls and are patched in place)."""
    kw["settings"] = kw.get("settings", Settings()).replace(workers=1)
    w = Watcher(WatchOptions(root, settle=0.0, **kw), factory=FakeAnonymiser)
    w.start()
    return w


def settle(w: Watcher) -> None:
    w.cycle()  # first sight
    w.cycle()  # stable: processed


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_nested_folder_mirrored_with_duplicate_names(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    drop(tmp_path, "Sports Day ü/a/IMG 1.jpg", b"one")
    drop(tmp_path, "Sports Day ü/b/IMG 1.jpg", b"two")
    drop(tmp_path, "loose.jpg", b"three")
    drop(tmp_path, "~$lock.jpg", b"temp")
    drop(tmp_path, "._loose.jpg", b"apple")
    settle(w)
    ready = [f for f in files_under(tmp_path / "ready") if not f.startswith("reports/")]
    assert ready == ["Sports Day ü/a/IMG 1.jpg", "Sports Day ü/b/IMG 1.jpg", "loose.jpg"]
    assert (tmp_path / "ready/Sports Day ü/b/IMG 1.jpg").read_bytes() == b"SAFE:two"
    assert files_under(tmp_path / "originals") == [
        "Sports Day ü/a/IMG 1.jpg", "Sports Day ü/b/IMG 1.jpg", "loose.jpg"
    ]  # fmt: skip
    assert (tmp_path / "originals/loose.jpg").read_bytes() == b"three"
    assert stat.S_IMODE((tmp_path / "originals/loose.jpg").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ready/loose.jpg").stat().st_mode) == 0o640
    assert files_under(tmp_path / "incoming") == ["._loose.jpg", "~$lock.jpg"]  # untouched
    reports = sorted((tmp_path / "ready/reports").glob("*.json"))
    assert [r.name.split(" ", 1)[1] for r in reports] == ["Sports Day ü.json", "files.json"]
    report = json.loads(reports[0].read_text())
    assert report["summary"]["images"] == 2 and report["summary"]["faces_blurred"] == 2
    assert {i["output"] for i in report["images"]} == {
        "ready/Sports Day ü/a/IMG 1.jpg", "ready/Sports Day ü/b/IMG 1.jpg"
    }  # fmt: skip
    assert report["images"][0]["original"].startswith("originals/Sports Day ü/")
    w.close()


def test_failures_and_review_routing(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    drop(tmp_path, "bad.jpg", b"CORRUPT")
    drop(tmp_path, "notes.txt", b"hello")
    drop(tmp_path, "look.jpg", b"REVIEW")
    drop(tmp_path, "fine.jpg", b"ok")
    settle(w)
    assert files_under(tmp_path / "failed") == [
        "bad.jpg",
        "bad.jpg.txt",
        "notes.txt",
        "notes.txt.txt",
    ]
    reason = (tmp_path / "failed/bad.jpg.txt").read_text()
    assert "NOT made safe" in reason and "truncated JPEG" in reason
    assert "not a photo or video" in (tmp_path / "failed/notes.txt.txt").read_text()
    assert files_under(tmp_path / "review") == ["look.jpg"]
    assert (tmp_path / "ready/fine.jpg").exists() and not (tmp_path / "ready/look.jpg").exists()
    assert w.failed_count == 2 and w.done_count == 2
    info = status(tmp_path)
    assert (info["done"], info["failed"], info["queue"]) == (2, 2, 0)
    assert info["last_error"]["file"] in ("incoming/bad.jpg", "incoming/notes.txt")
    text = "\n".join(format_status(info))
    assert "failed:         2" in text
    w.close()


def test_same_name_new_content_gets_new_output_never_overwrites(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    drop(tmp_path, "a.jpg", b"first")
    settle(w)
    drop(tmp_path, "a.jpg", b"second")
    settle(w)
    assert (tmp_path / "ready/a.jpg").read_bytes() == b"SAFE:first"
    assert (tmp_path / "ready/a-1.jpg").read_bytes() == b"SAFE:second"
    assert (tmp_path / "originals/a (2).jpg").read_bytes() == b"second"
    drop(tmp_path, "a.jpg", b"first")  # the same photo dropped again: not processed twice
    settle(w)
    assert len(FakeAnonymiser.calls) == 2
    assert (tmp_path / "originals/a (3).jpg").read_bytes() == b"first"
    w.close()


def test_recovery_redoes_processing_and_finishes_moves(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    w.close()
    a = drop(tmp_path, "a.jpg", b"AAA")
    b = drop(tmp_path, "b.jpg", b"BBB")
    import hashlib

    with Journal(tmp_path / ".anonymiser/journal.sqlite") as j:
        # a: killed while processing, a stale staged file and a placed output left behind
        ra = j.add("a.jpg", 3, hashlib.sha256(b"AAA").hexdigest(), "")
        j.start(ra.id, "a.jpg")
        (tmp_path / ".anonymiser/work" / f"{ra.id}.jpg").write_bytes(b"half")
        (tmp_path / "ready/a.jpg").write_bytes(b"SAFE:AAA")
        # b: killed after done was recorded, before the original was moved
        rb = j.add("b.jpg", 3, hashlib.sha256(b"BBB").hexdigest(), "")
        j.start(rb.id, "b.jpg")
        (tmp_path / "ready/b.jpg").write_bytes(b"SAFE:BBB")
        j.done(rb.id, "b.jpg", "ready", "originals/b.jpg", {"result": {
            "source": "incoming/b.jpg", "output": "ready/b.jpg", "status": "ok"}})  # fmt: skip
    w = make_watcher(tmp_path)
    assert not list((tmp_path / ".anonymiser/work").iterdir())
    assert not b.exists() and (tmp_path / "originals/b.jpg").read_bytes() == b"BBB"
    settle(w)
    assert FakeAnonymiser.calls == [str(a)]  # b not reprocessed
    ready = [f for f in files_under(tmp_path / "ready") if not f.startswith("reports/")]
    assert ready == ["a.jpg", "b.jpg"]  # the redo replaced a.jpg, did not duplicate it
    with Journal(tmp_path / ".anonymiser/journal.sqlite") as j:
        rows = {r.rel: r for r in j.all()}
    assert (rows["a.jpg"].attempts, rows["a.jpg"].completions) == (2, 1)
    assert (rows["b.jpg"].attempts, rows["b.jpg"].completions) == (1, 1)
    assert all(r.finished for r in rows.values())
    w.close()


def test_second_watcher_refused(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    with pytest.raises(Exception, match="another watcher"):
        make_watcher(tmp_path)
    assert status(tmp_path)["running"] is True
    w.close()
    assert status(tmp_path)["running"] is False


def test_invalid_consent_reload_keeps_running_on_default_deny(
    tmp_path: Path, monkeypatch: Any
) -> None:
    consent_csv = tmp_path / "consent.csv"
    consent_csv.write_text("good")

    class FakeLog:
        def __init__(self, sha: str) -> None:
            self.sha256 = sha
            self.path = consent_csv

        def year_warning(self, on_date: Any) -> str | None:
            return None

    def load(path: Path, on_date: Any = None) -> FakeLog:
        from anonymiser.errors import ConsentError

        text = Path(path).read_text()
        if text.startswith("bad"):
            raise ConsentError(f"{path}: consent log invalid (1 problems): line 2: bad date")
        return FakeLog(text)

    import anonymiser.consent

    monkeypatch.setattr(anonymiser.consent.ConsentLog, "load", staticmethod(load))
    root = tmp_path / "root"
    w = make_watcher(root, consent_path=consent_csv)
    assert w._anon.consent.sha256 == "good"
    consent_csv.write_text("withdrawn one pupil")
    drop(root, "a.jpg", b"a")
    settle(w)
    assert w._anon.consent.sha256 == "withdrawn one pupil"  # reloaded before the next file
    consent_csv.write_text("bad")
    drop(root, "b.jpg", b"b")
    settle(w)
    assert w._anon.consent is None  # default deny: nobody kept
    assert w._anon.settings.text is TextMode.ALL  # no roster: all text redacted
    assert (root / "ready/b.jpg").exists()
    assert "bad date" in status(root)["consent_error"]
    w.close()


def test_files_changed_during_processing_are_redone(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    p = drop(tmp_path, "grow.jpg", b"part")
    original = FakeAnonymiser.process_file

    def slow(self: FakeAnonymiser, src: Path, dst: Path) -> ImageResult:
        out = original(self, src, dst)
        if len(FakeAnonymiser.calls) == 1:
            with open(p, "ab") as f:
                f.write(b" and the rest")
            os.utime(p, ns=(1, 1))
        return out

    FakeAnonymiser.process_file = slow  # type: ignore[method-assign]
    try:
        settle(w)
        assert not (tmp_path / "ready/grow.jpg").exists()
        settle(w)
    finally:
        FakeAnonymiser.process_file = original  # type: ignore[method-assign]
    assert (tmp_path / "ready/grow.jpg").read_bytes() == b"SAFE:part and the rest"
    w.close()


def test_audit_journal_gets_no_pupil_names(tmp_path: Path) -> None:
    import sqlite3

    from anonymiser import audit

    class NamedAnonymiser(FakeAnonymiser):
        def __init__(self, settings: Settings, consent: Any, previous: Any) -> None:
            super().__init__(settings, consent, previous)
            self.pupils = [Pupil("P1001", "Ayodele", "Bolton")]

    root = tmp_path / "root"
    w = Watcher(WatchOptions(root, Settings(workers=1), settle=0.0), factory=NamedAnonymiser)
    w.start()
    drop(root, "Sports Day/Ayodele Bolton.jpg", b"photo")
    drop(root, "Sports Day/Bolton twins.jpg", b"CORRUPT")
    settle(w)
    w.close()
    journal = audit.journal_path()
    con = sqlite3.connect(journal)
    values = [v for row in con.execute("SELECT * FROM files") for v in row]
    con.close()
    assert len(values) == 2 * 10 and not any("Bolton" in str(v) for v in values)
    original = root / "originals" / "Sports Day" / "Ayodele Bolton.jpg"
    [record] = audit.file_history(original, journal)  # found by its content
    assert record.source == str(root / "incoming" / "Sports Day" / "[name hidden].jpg")
    assert record.output == str(root / "ready" / "Sports Day" / "photo-0001.jpg")


def test_names_with_a_pupils_name_are_replaced_like_blur_does(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    w._anon.pupils = [Pupil("P1", "Oliver", "Pemberton", "Oliver")]
    drop(tmp_path, "Oliver Pemberton/IMG 1.jpg", b"one")
    drop(tmp_path, "Oliver Pemberton/IMG 2.jpg", b"two")
    drop(tmp_path, "Oliver Pemberton Y6.jpg", b"three")
    settle(w)
    ready = [f for f in files_under(tmp_path / "ready") if not f.startswith("reports/")]
    assert "oliver" not in " ".join(ready).lower()
    folders = {PurePosixPath(f).parent.name for f in ready if "/" in f}
    assert len(folders) == 1 and re.fullmatch(r"folder-\d{4}", folders.pop())
    loose = [f for f in ready if "/" not in f]
    assert len(loose) == 1 and re.fullmatch(r"photo-\d{4}\.jpg", loose[0])  # as `blur` names it
    w.close()


def test_consent_log_without_this_years_rows_is_warned_once(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import logging
    from datetime import date

    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logging.getLogger("anonymiser.watch").addHandler(handler)
    try:
        header = "pupil_id,first_name,last_name,academic_year,images_social_media"
        consent_csv = tmp_path / "consent.csv"
        consent_csv.write_text(f"{header}\nP1,Ann,Able,2026/27,yes\n")
        root = tmp_path / "root"
        settings = Settings(on_date=date(2027, 9, 2))  # September: last year's export only
        w = make_watcher(root, consent_path=consent_csv, settings=settings)
        drop(root, "a.jpg", b"a")
        settle(w)
        drop(root, "b.jpg", b"b")
        settle(w)
        year = [m for m in messages if "no rows for academic year 2027/28" in m]
        assert year == [
            f"{consent_csv}: no rows for academic year 2027/28 — every face will be blurred "
            "(export this year's consent log)"
        ]  # at start, not again per file
        consent_csv.write_text(f"{header}\nP1,Ann,Able,2027/28,yes\n")  # the new export
        drop(root, "c.jpg", b"c")
        settle(w)
        consent_csv.write_text(f"{header}\nP1,Ann,Able,2028/29,yes\n")  # a wrong export
        drop(root, "d.jpg", b"d")
        settle(w)
        assert len([m for m in messages if "no rows for academic year 2027/28" in m]) == 2
        w.close()
    finally:
        logging.getLogger("anonymiser.watch").removeHandler(handler)
