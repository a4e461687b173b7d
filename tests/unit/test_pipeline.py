"""The pipeline with fake engines injected: ordering, fail-closed, output planning."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from anonymiser import Anonymiser, ExitCode, Settings, SettingsError, Status
from anonymiser.consent import Pupil
from anonymiser.identify.names import RosterNameMatcher
from anonymiser.inputs import PlannedOutput, expand_inputs, plan_outputs, unsupported_reason
from anonymiser.report import build_report
from anonymiser.results import Box, Detection, Kind


class FakeFaces:
    name = "fake"

    def __init__(self, boxes: list[Box] | None = None, fail: bool = False) -> None:
        self.boxes = boxes or [Box(10, 10, 20, 20)]
        self.fail = fail
        self.calls = 0

    def detect(self, rgb: np.ndarray, threshold: float) -> list[Detection]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("engine crashed")
        return [Detection(Kind.FACE, b, 0.9, self.name) for b in self.boxes]


def _jpeg(path: Path, colour: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(colour)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
    return path


def _outputs(plan: list[PlannedOutput]) -> dict[Path, Path | None]:
    return {p.source: p.output for p in plan}


def test_process_array_blurs_every_face() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    anon = Anonymiser(Settings(text="off"), face_detector=FakeFaces())
    safe, result = anon.process_array(rgb)
    assert result.status is Status.OK and result.faces_blurred == 1
    assert result.regions[0].reason == "not-identified"
    assert not np.array_equal(safe[10:30, 10:30], rgb[10:30, 10:30])
    with pytest.raises(SettingsError):
        anon.process_array(rgb[..., 0])


def test_fail_closed_writes_nothing(tmp_path: Path) -> None:
    src = _jpeg(tmp_path / "in" / "a.jpg")
    anon = Anonymiser(Settings(text="off"), face_detector=FakeFaces(fail=True))
    result = anon.process_file(src, tmp_path / "out" / "a.jpg")
    assert result.status is Status.FAILED
    assert "engine crashed" in (result.error or "") and str(src) in (result.error or "")
    assert not (tmp_path / "out" / "a.jpg").exists()


def test_batch_keeps_input_order_and_continues_after_bad_file(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    files = [_jpeg(inp / f"{n}.jpg", n) for n in (3, 1, 2)]
    (inp / "0-bad.jpg").write_text("not a picture")
    anon = Anonymiser(Settings(text="off", workers=1), face_detector=FakeFaces())
    batch = anon.process_batch([inp], tmp_path / "out")
    names = [Path(r.source).name for r in batch.images]
    assert names == sorted(["0-bad.jpg", *(f.name for f in files)])
    assert [r.status for r in batch.images].count(Status.FAILED) == 1
    assert batch.exit_code == 1
    assert all((tmp_path / "out" / f.name).exists() for f in files)


def test_plan_mirrors_tree_and_avoids_collisions(tmp_path: Path) -> None:
    a = _jpeg(tmp_path / "in" / "day 1" / "IMG 1.jpg")
    b = _jpeg(tmp_path / "in" / "day 2" / "IMG 1.jpg")
    c = _jpeg(tmp_path / "other" / "IMG 1.jpg")
    out = tmp_path / "out"
    plan = _outputs(plan_outputs([tmp_path / "in", c], out))
    assert plan[a] == out / "day 1" / "IMG 1.jpg"
    assert plan[b] == out / "day 2" / "IMG 1.jpg"
    assert plan[c] == out / "IMG 1-1.jpg" or plan[c] == out / "IMG 1.jpg"
    assert len(set(plan.values())) == 3


def test_plan_refuses_output_inside_input(tmp_path: Path) -> None:
    _jpeg(tmp_path / "in" / "a.jpg")
    with pytest.raises(SettingsError, match="inside the input"):
        plan_outputs([tmp_path / "in"], tmp_path / "in" / "safe")


def test_plan_renames_files_and_folders_with_pupil_names(tmp_path: Path) -> None:
    src = _jpeg(tmp_path / "in" / "Amelia Hughes" / "Amelia_Hughes_Y6.jpg")
    plain = _jpeg(tmp_path / "in" / "sports" / "IMG_0001.jpg")
    pupils = [Pupil("P1", "Amelia", "Hughes", "Amelia")]
    plan = _outputs(plan_outputs([tmp_path / "in"], tmp_path / "out", RosterNameMatcher(pupils)))
    out = plan[src].relative_to(tmp_path / "out")
    assert "amelia" not in str(out).lower() and "hughes" not in str(out).lower()
    assert out.name.startswith("photo-") and out.parts[0].startswith("folder-")
    assert plan[plain] == tmp_path / "out" / "sports" / "IMG_0001.jpg"


class _NoRoster:
    def roster(self, on_date: object) -> list[object]:
        return []


def test_batch_refuses_embeddings_store_inside_output(tmp_path: Path) -> None:
    from anonymiser.identify.faces import StoreError

    _jpeg(tmp_path / "in" / "a.jpg")
    settings = Settings(text="off", workers=1, store=tmp_path / "out" / "embeddings.sqlite")
    anon = Anonymiser(settings, _NoRoster(), face_detector=FakeFaces())  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="must not be inside the output folder") as info:
        anon.process_batch([tmp_path / "in"], tmp_path / "out")
    assert info.value.exit_code == ExitCode.STORAGE  # an unsafe store, not a bad consent log
    assert not (tmp_path / "out" / "a.jpg").exists()


def _deny_listing(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """``folder`` cannot be listed, as for a folder without read permission (even as root)."""
    real = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_unreadable_folder_fails_alone_and_the_rest_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inp = tmp_path / "in"
    ok = _jpeg(inp / "ok.jpg")
    locked = inp / "lockeddir"
    _jpeg(locked / "a.jpg")
    _deny_listing(monkeypatch, locked)
    anon = Anonymiser(Settings(text="off", workers=1), face_detector=FakeFaces())
    seen: list[str] = []
    batch = anon.process_batch([inp], tmp_path / "out", progress=lambda r: seen.append(r.source))
    results = {Path(r.source): r for r in batch.images}
    assert results[ok].status is Status.OK and (tmp_path / "out" / "ok.jpg").is_file()
    failed = results[locked]
    assert failed.status is Status.FAILED and failed.output is None
    assert failed.error == f"{locked}: cannot read folder (Permission denied)"
    assert sorted(seen) == sorted(map(str, results))  # the CLI prints the error from progress
    assert batch.exit_code == 1 and "2 files: 1 ok, 1 failed" in batch.summary()
    report = build_report(batch, Settings())
    assert report["summary"]["failed"] == 1
    entry = next(i for i in report["images"] if i["source"] == str(locked))
    assert entry["status"] == "failed" and entry["error"] == failed.error
    assert not (tmp_path / "out" / "lockeddir").exists()


def test_check_lists_an_unreadable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from anonymiser.check import check_paths

    locked = tmp_path / "safe" / "locked"
    _jpeg(locked / "a.jpg")
    _deny_listing(monkeypatch, locked)
    checker: Any = _NoFindings()
    findings = check_paths([tmp_path / "safe"], settings=Settings(), checker=checker)
    assert [str(f) for f in findings] == [
        f"{locked}: unreadable: cannot read folder (Permission denied)"
    ]


class _NoFindings:
    possible: tuple[object, ...] = ()

    def check_file(self, *args: object) -> list[object]:
        return []


def test_expand_inputs_leaves_nothing_out(tmp_path: Path) -> None:
    """Photos to process; other files skipped with the watcher's wording; hidden, temporary and
    system files and hidden or linked folders (never entered) ignored, but found."""
    inp = tmp_path / "in"
    files = [_jpeg(inp / "b" / "1.jpg"), _jpeg(inp / "a b.jpg"), _jpeg(inp / "a" / "z.jpg")]
    _jpeg(inp / ".hidden" / "x.jpg")
    _jpeg(inp / ".x.jpg")
    (inp / "notes.txt").write_text("not media")
    (inp / "party.gif").write_bytes(b"GIF89a")
    (inp / "Thumbs.db").write_bytes(b"")
    (inp / "link").symlink_to(inp / "b", target_is_directory=True)
    found = {f.path: f for f in expand_inputs([inp])}
    assert sorted(p for p, f in found.items() if f.processable) == sorted(files)
    assert all(found[p].rel == p.relative_to(inp) for p in files)
    assert found[inp / "notes.txt"].skipped == unsupported_reason(inp / "notes.txt")
    assert (
        found[inp / "notes.txt"].skipped == "not a photo or video the anonymiser can process (.txt)"
    )
    assert "GIFs are not processed, animated or not" in (found[inp / "party.gif"].skipped or "")
    ignored = sorted(p.name for p, f in found.items() if f.ignored)
    assert ignored == [".hidden", ".x.jpg", "Thumbs.db", "link"]
    assert inp / ".hidden" / "x.jpg" not in found  # a hidden folder is not entered
    assert all(f.error is None for f in found.values())


def test_a_named_file_of_another_kind_is_skipped(tmp_path: Path) -> None:
    pdf = tmp_path / "newsletter.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    (found,) = expand_inputs([pdf])
    assert found.skipped == "not a photo or video the anonymiser can process (.pdf)"
    (missing,) = expand_inputs([tmp_path / "gone.pdf"])  # missing: fails later, on its own
    assert missing.processable


def test_batch_lists_skipped_and_counts_ignored(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    photo = _jpeg(inp / "photo.jpg")
    (inp / "newsletter.pdf").write_bytes(b"%PDF-1.4")
    (inp / ".DS_Store").write_bytes(b"")
    anon = Anonymiser(Settings(text="off", workers=1), face_detector=FakeFaces())
    batch = anon.process_batch([inp], tmp_path / "out")
    by_name = {Path(r.source).name: r for r in batch.images}
    assert by_name["photo.jpg"].status is Status.OK and (tmp_path / "out" / photo.name).is_file()
    assert by_name["newsletter.pdf"].status is Status.SKIPPED
    assert by_name["newsletter.pdf"].as_report()["reason"].endswith("(.pdf)")
    assert batch.ignored == (str(inp / ".DS_Store"),)
    assert batch.exit_code == 1
    assert "2 files: 1 ok, 0 failed, 1 skipped (not photos or videos), 1 hidden" in batch.summary()
    assert not (tmp_path / "out" / "newsletter.pdf").exists()
    only_other = Anonymiser(Settings(text="off", workers=1), face_detector=FakeFaces())
    assert only_other.process_batch([inp / "newsletter.pdf"], tmp_path / "o2").exit_code == 3


def test_output_onto_an_input_fails_only_that_file(tmp_path: Path) -> None:
    good = _jpeg(tmp_path / "bad2" / "good.jpg", 1)
    other = _jpeg(tmp_path / "samples" / "astronaut.jpg", 2)
    twin = _jpeg(tmp_path / "elsewhere" / "good.jpg", 3)  # its output would land on bad2/good.jpg
    before = good.read_bytes()
    anon = Anonymiser(Settings(text="off", workers=1), face_detector=FakeFaces())
    batch = anon.process_batch([twin, good, other], tmp_path / "bad2")
    results = {Path(r.source): r for r in batch.images}
    assert results[good].status is Status.FAILED
    assert results[good].error == f"{good}: output would overwrite the input"
    assert results[twin].status is Status.FAILED
    assert results[twin].error == f"{twin}: output would overwrite another input ({good})"
    assert good.read_bytes() == before
    assert results[other].status is Status.OK and (tmp_path / "bad2" / "astronaut.jpg").is_file()
    assert batch.exit_code == 1


def test_plan_one_pseudonymous_folder_per_source_folder(tmp_path: Path) -> None:
    names, out = tmp_path / "names", tmp_path / "out"
    photos = [_jpeg(names / "Oliver Pemberton" / f"IMG_{i}.jpg", i) for i in range(9)]
    named = _jpeg(names / "Oliver Pemberton" / "Oliver Pemberton sports day.jpg")
    nested = _jpeg(names / "Amelia Hughes" / "Oliver Pemberton" / "IMG_0.jpg")
    plain = _jpeg(names / "sports" / "IMG_0.jpg")
    pupils = [Pupil("P1", "Oliver", "Pemberton", "Oliver"), Pupil("P2", "Amelia", "Hughes", "")]
    plan = _outputs(plan_outputs([names], out, RosterNameMatcher(pupils)))
    # numbered per distinct source folder, in batch order ("Amelia Hughes/..." sorts first)
    assert plan[nested] == out / "folder-0001" / "folder-0002" / "IMG_0.jpg"
    assert [plan[p] for p in photos] == [out / "folder-0003" / p.name for p in photos]
    renamed = plan[named]
    assert renamed is not None and renamed.parent == out / "folder-0003"
    assert re.fullmatch(r"photo-\d{4}\.jpg", renamed.name)
    assert plan[plain] == out / "sports" / "IMG_0.jpg"


def test_warns_when_the_consent_log_has_no_rows_for_the_year(tmp_path: Path) -> None:
    from datetime import date

    from anonymiser import ConsentLog

    csv = tmp_path / "consent.csv"
    csv.write_text("pupil_id,first_name,last_name,academic_year\nP1,Ann,Able,2026/27\n")
    log = ConsentLog.load(csv)
    this_year = Anonymiser(Settings(on_date=date(2027, 8, 31)), log, face_detector=FakeFaces())
    assert this_year.warnings() == []
    next_year = Anonymiser(Settings(on_date=date(2027, 9, 1)), log, face_detector=FakeFaces())
    assert next_year.warnings() == [
        f"{csv}: no rows for academic year 2027/28 — every face will be blurred "
        "(export this year's consent log)"
    ]
