"""Audit journal: append-only, answers `audit pupil`, survives a crash mid-batch."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from anonymiser import audit
from anonymiser.results import (
    Action,
    BatchResult,
    Box,
    ImageResult,
    Kind,
    Reason,
    Region,
    Status,
)
from anonymiser.settings import Settings


class FakeConsent:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha256 = "ab" * 32

    def roster(self, on_date: object = None) -> list[object]:
        return []


def face(action: Action, reason: Reason, pupil: str | None = None) -> Region:
    return Region(Kind.FACE, Box(10, 10, 40, 40), 0.9, action, reason, pupil)


def make_batch(tmp: Path) -> BatchResult:
    src = tmp / "in"
    out = tmp / "out"
    src.mkdir()
    out.mkdir()
    images = []
    plans = {
        "a": (face(Action.KEPT, Reason.CONSENT, "P0001"), face(Action.BLURRED, Reason.NO_CONSENT)),
        "b": (face(Action.KEPT, Reason.CONSENT, "P0002"),),
        "c": (
            face(Action.KEPT, Reason.CONSENT, "P0001"),
            face(Action.BLURRED, Reason.WITHDRAWN, "P0002"),
            Region(Kind.TEXT, Box(0, 0, 9, 9), 0.8, Action.BLURRED, Reason.PUPIL_NAME, "P0003"),
        ),
        "d": (face(Action.BLURRED, Reason.NOT_IDENTIFIED),),
    }
    for name, regions in plans.items():
        (src / f"{name}.jpg").write_bytes(f"input {name}".encode())
        (out / f"{name}.jpg").write_bytes(f"output {name}".encode())
        images.append(
            ImageResult(
                str(src / f"{name}.jpg"),
                str(out / f"{name}.jpg"),
                Status.OK,
                100,
                100,
                regions=regions,
            )
        )
    images.append(
        ImageResult(str(src / "e.jpg"), None, Status.FAILED, error=f"{src}/e.jpg: truncated")
    )
    return BatchResult(tuple(images))


def test_pupil_outputs_lists_only_kept_faces(tmp_path: Path) -> None:
    journal = tmp_path / "home" / "audit.sqlite"
    batch = make_batch(tmp_path)
    consent = FakeConsent(tmp_path / "consent.csv")
    audit.record_batch(batch, Settings(), consent, path=journal)

    p1 = audit.pupil_outputs("P0001", journal)
    assert [Path(r.output).name for r in p1] == ["a.jpg", "c.jpg"]  # type: ignore[arg-type]
    assert all(r.consent_sha256 == "ab" * 32 for r in p1)
    # P0002 was kept in b, but blurred (withdrawn) in c: only b counts.
    assert [Path(r.output).name for r in audit.pupil_outputs("P0002", journal)] == ["b.jpg"]  # type: ignore[arg-type]
    # A blurred name is not a use of the pupil's image.
    assert audit.pupil_outputs("P0003", journal) == []
    assert audit.pupil_outputs("P9999", journal) == []
    # The hashes identify the exact bytes.
    assert p1[0].input_sha256 == audit.sha256_of(tmp_path / "in" / "a.jpg")
    assert p1[0].output_sha256 == audit.sha256_of(tmp_path / "out" / "a.jpg")


def test_file_history_by_path_and_by_content(tmp_path: Path) -> None:
    journal = tmp_path / "audit.sqlite"
    batch = make_batch(tmp_path)
    audit.record_batch(batch, Settings(), None, path=journal)
    audit.record_batch(batch, Settings(purpose="website"), None, path=journal)

    hist = audit.file_history(tmp_path / "out" / "c.jpg", journal)
    assert len(hist) == 2
    assert [r.reason for r in hist[0].regions] == ["consent", "withdrawn", "pupil-name"]
    # A copy of the output elsewhere is found by its content.
    copy = tmp_path / "copy.jpg"
    copy.write_bytes((tmp_path / "out" / "c.jpg").read_bytes())
    assert len(audit.file_history(copy, journal)) == 2
    # Failed files are recorded with their error, and found by source path.
    failed = audit.file_history(tmp_path / "in" / "e.jpg", journal)
    assert failed and failed[0].status == "failed" and failed[0].output is None


def test_journal_holds_no_names_and_is_append_only(tmp_path: Path) -> None:
    journal = tmp_path / "audit.sqlite"
    audit.record_batch(make_batch(tmp_path), Settings(), None, path=journal)
    con = sqlite3.connect(journal)
    cols = {
        row[1]
        for table in ("runs", "files", "regions")
        for row in con.execute(f"PRAGMA table_info({table})")
    }
    assert not cols & {"name", "first_name", "last_name", "text", "embedding"}
    for sql in (
        "UPDATE regions SET action = 'kept'",
        "DELETE FROM files",
        "DELETE FROM runs",
        "UPDATE files SET output = NULL",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    con.close()
    assert sqlite3.connect(journal).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_path_follows_anonymiser_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANONYMISER_HOME", str(tmp_path))
    assert audit.journal_path() == tmp_path / "audit.sqlite"
    monkeypatch.delenv("ANONYMISER_HOME")
    store = tmp_path / "s" / "embeddings.sqlite"
    assert audit.journal_path(Settings(store=store)) == tmp_path / "s" / "audit.sqlite"


def test_missing_journal_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(audit.AuditError, match="no audit journal"):
        audit.pupil_outputs("P0001", tmp_path / "none.sqlite")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from anonymiser import audit
    from anonymiser.results import *
    from anonymiser.settings import Settings

    journal, src = Path(sys.argv[1]), Path(sys.argv[2])
    region = Region(Kind.FACE, Box(1, 2, 3, 4), 0.9, Action.KEPT, Reason.CONSENT, "P0007")
    with audit.connect(journal) as con:
        run = audit.start_run(con, Settings())
        for i in range(100000):
            result = ImageResult(str(src), f"/out/{i}.jpg", Status.OK, regions=(region,) * 3)
            audit.record_image(con, run, result)
            print(i, flush=True)
    """
)


def test_survives_kill_mid_batch(tmp_path: Path) -> None:
    journal = tmp_path / "audit.sqlite"
    src = tmp_path / "in.jpg"
    src.write_bytes(b"x" * 1000)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(journal), str(src)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    last = -1
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        last = int(line)
        if last >= 30 or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGKILL)  # mid-batch, no clean shutdown
    proc.wait()
    assert last >= 30
    assert (tmp_path / "audit.sqlite-wal").exists()  # the WAL was not checkpointed away

    con = sqlite3.connect(journal)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    files = con.execute("SELECT count(*) FROM files").fetchone()[0]
    regions = con.execute("SELECT count(*) FROM regions").fetchone()[0]
    con.close()
    assert files >= last + 1  # every file reported committed is there
    assert regions == 3 * files  # no file is there without its regions
    assert len(audit.pupil_outputs("P0007", journal)) == files
    # And the journal still takes new rows.
    audit.record_batch(BatchResult((ImageResult(str(src), None, Status.SKIPPED),)), Settings(),
                       path=journal)  # fmt: skip
    assert len(audit.file_history(src, journal)) == files + 1


def test_audit_cli(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from anonymiser.cli import main

    journal = tmp_path / "audit.sqlite"
    audit.record_batch(make_batch(tmp_path), Settings(), None, path=journal)
    runner = CliRunner()
    res = runner.invoke(main, ["audit", "pupil", "P0001", "--journal", str(journal), "--json"])
    assert res.exit_code == 0, res.output
    records = json.loads(res.stdout)
    assert [Path(r["output"]).name for r in records] == ["a.jpg", "c.jpg"]
    res = runner.invoke(
        main, ["audit", "file", str(tmp_path / "out" / "b.jpg"), "--journal", str(journal)]
    )
    assert res.exit_code == 0 and "kept consent P0002" in res.stdout
    res = runner.invoke(main, ["audit", "pupil", "P0001", "--journal", str(tmp_path / "no.sqlite")])
    assert res.exit_code != 0 and "no audit journal" in res.output


def named_consent(tmp: Path) -> Path:
    path = tmp / "consent.csv"
    path.write_text(
        "pupil_id,first_name,last_name,academic_year,images_social_media\n"
        "P1001,Ayodele,Bolton,2026/27,yes\n"
        "P1002,Priya,Castellano,2025/26,no\n"  # last year's pupil: her name is hidden too
    )
    return path


def journal_text(journal: Path) -> str:
    """Every value in every table of the journal, as one string."""
    con = sqlite3.connect(journal)
    rows = [
        row
        for table in ("runs", "files", "regions")
        for row in con.execute(f"SELECT * FROM {table}")
    ]
    con.close()
    return "\n".join(str(v) for row in rows for v in row)


def test_journal_hides_pupil_names_in_paths_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anonymiser.consent import ConsentLog

    monkeypatch.chdir(tmp_path)
    consent = ConsentLog.load(named_consent(tmp_path))
    folder = tmp_path / "incoming" / "Sports Day"
    folder.mkdir(parents=True)
    (folder / "Ayodele Bolton.jpg").write_bytes(b"a photo of Ayodele")
    (folder / "IMG_0002.jpg").write_bytes(b"a photo")
    castellano = tmp_path / "incoming" / "Priya_Castellano_Y6" / "x.jpg"
    (tmp_path / "safe").mkdir()
    (tmp_path / "safe" / "photo-0001.jpg").write_bytes(b"safe")
    kept = face(Action.KEPT, Reason.CONSENT, "P1001")
    rel = "incoming/Sports Day/Ayodele Bolton.jpg"  # relative, as typed on the command line
    batch = BatchResult(
        (
            ImageResult(rel, "safe/photo-0001.jpg", Status.OK, 9, 9, regions=(kept,)),
            ImageResult(str(folder / "IMG_0002.jpg"), None, Status.SKIPPED),
            ImageResult(
                str(castellano), None, Status.FAILED,
                error=f"{castellano}: cannot read 'Priya_Castellano_Y6/x.jpg' for Ayodele",
            ),
        )
    )  # fmt: skip
    journal = tmp_path / "audit.sqlite"
    audit.record_batch(batch, Settings(), consent, path=journal)

    text = journal_text(journal).lower()
    for name in ("ayodele", "bolton", "priya", "castellano"):
        assert name not in text
    [record] = audit.pupil_outputs("P1001", journal)
    assert record.source == str(folder / "[name hidden].jpg")  # the suffix and folders kept
    assert record.output == str(tmp_path / "safe" / "photo-0001.jpg")
    assert record.input_sha256 == audit.sha256_of(folder / "Ayodele Bolton.jpg")
    # A path without a name is kept as it was, so it is still found by path.
    assert [r.status for r in audit.file_history(folder / "IMG_0002.jpg", journal)] == ["skipped"]
    # The named input is found by its content, the output by its path.
    assert [r.id for r in audit.file_history(folder / "Ayodele Bolton.jpg", journal)] == [record.id]
    assert [r.id for r in audit.file_history("safe/photo-0001.jpg", journal)] == [record.id]
    [failed] = audit.file_history(tmp_path / "incoming" / "[name hidden]" / "x.jpg", journal)
    assert failed.error is not None and "cannot read" in failed.error
    assert failed.source == str(tmp_path / "incoming" / "[name hidden]" / "x.jpg")


def test_explicit_roster_hides_names_without_a_consent_log(tmp_path: Path) -> None:
    from anonymiser.consent import Pupil

    journal = tmp_path / "audit.sqlite"
    src = tmp_path / "Bolton family" / "AyodeleB.jpg"
    result = ImageResult(str(src), None, Status.FAILED, error=f"{src}: truncated")
    audit.record_batch(
        BatchResult((result,)), Settings(), None, path=journal,
        pupils=[Pupil("P1001", "Ayodele", "Bolton")],
    )  # fmt: skip
    assert "bolton" not in journal_text(journal).lower()
    [record] = audit.file_history(tmp_path / "[name hidden]" / "[name hidden].jpg", journal)
    assert record.error == f"{record.source}: truncated"


def test_audit_cli_prints_no_names(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from anonymiser.cli import main
    from anonymiser.consent import ConsentLog

    consent = ConsentLog.load(named_consent(tmp_path))
    src = tmp_path / "in" / "Sports Day" / "Ayodele Bolton.jpg"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"a photo")
    out = tmp_path / "out" / "Sports Day" / "photo-0001.jpg"
    out.parent.mkdir(parents=True)
    out.write_bytes(b"safe")
    kept = face(Action.KEPT, Reason.CONSENT, "P1001")
    batch = BatchResult((ImageResult(str(src), str(out), Status.OK, 9, 9, regions=(kept,)),))
    journal = tmp_path / "audit.sqlite"
    audit.record_batch(batch, Settings(), consent, path=journal)
    runner = CliRunner()
    res = runner.invoke(main, ["audit", "pupil", "P1001", "--journal", str(journal)])
    assert res.exit_code == 0, res.output
    assert "Sports Day/[name hidden].jpg" in res.stdout
    assert "Ayodele" not in res.output and "Bolton" not in res.output
    res = runner.invoke(main, ["audit", "file", str(src), "--journal", str(journal), "--json"])
    assert res.exit_code == 0, res.output
    assert "Bolton" not in res.stdout and "1 record(s)" in res.output
