"""`anonymiser doctor`: one line per check, a fix in every problem's line, exit codes."""

from __future__ import annotations

import os
import shutil
from collections import namedtuple
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from anonymiser import ExitCode, Settings, doctor, models
from anonymiser.cli import main
from anonymiser.doctor import Severity, diagnose

HEADER = "pupil_id,first_name,last_name,academic_year,images_social_media,biometric_matching"


def _by_check(report: doctor.DoctorReport, check: str) -> list[doctor.Finding]:
    return [f for f in report.findings if f.check == check]


@pytest.mark.slow  # runs the face model once (on a 32x32 image)
def test_a_complete_install_is_ready() -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "ready"
    lines = result.stdout.splitlines()
    for name in models.MANIFEST:
        assert any(line.startswith(f"ok       model {name}: ") for line in lines), name
    assert any("the face model runs on CPUExecutionProvider" in line for line in lines)


@pytest.mark.usefixtures("missing_model")
def test_a_missing_model_exits_4_with_what_to_do() -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == ExitCode.MODEL_MISSING
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("problem")]
    assert line.startswith("problem  model centerface: ") and line.count("centerface:") == 1
    assert "missing" in line and "reinstall" in line
    assert "1 problem(s)" in result.stderr


def test_optional_tools_missing_are_marked_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(
        doctor, "_onnxruntime", lambda: doctor.Finding("onnxruntime", Severity.OK, "-")
    )
    report = diagnose(Settings())
    for tool in ("exiftool", "chromium", "ffmpeg"):
        (finding,) = _by_check(report, tool)
        assert (
            finding.severity is Severity.OPTIONAL and "not needed to anonymise" in finding.message
        )
    assert report.exit_code == ExitCode.OK


def test_an_invalid_consent_log_exits_5(tmp_path: Path) -> None:
    csv = tmp_path / "consent.csv"
    csv.write_text("pupil_id,first_name\nP1,Ann\n")
    (finding,) = _by_check(diagnose(Settings(), consent=csv), "consent log")
    assert finding.severity is Severity.PROBLEM and finding.exit_code == ExitCode.CONSENT_INVALID
    assert f"anonymiser consent validate {csv}" in finding.message
    valid = tmp_path / "ok.csv"
    valid.write_text(f"{HEADER}\nP1,Ann,Able,2026/27,yes,no\n")
    report = diagnose(Settings(on_date=date(2026, 10, 1)), consent=valid)
    assert [f.severity for f in _by_check(report, "consent log")] == [Severity.OK]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_the_embeddings_store_must_be_owner_only(tmp_path: Path) -> None:
    from anonymiser.identify.faces import EmbeddingStore

    store = tmp_path / "home" / "embeddings.sqlite"
    EmbeddingStore(store, create=True).close()
    settings = Settings(store=store)
    (finding,) = _by_check(diagnose(settings), "embeddings store")
    assert finding.severity is Severity.OK and "0 pupil(s) enrolled" in finding.message
    os.chmod(store, 0o644)
    (finding,) = _by_check(diagnose(settings), "embeddings store")
    assert finding.severity is Severity.PROBLEM and f"chmod 600 {store}" in finding.message
    assert oct(store.stat().st_mode & 0o777) == "0o644"  # doctor changes nothing
    os.chmod(store, 0o600)
    (finding,) = _by_check(diagnose(settings, output=store.parent), "embeddings store")
    assert finding.severity is Severity.PROBLEM and "output folder" in finding.message


def test_no_store_yet_is_a_note_with_the_command(tmp_path: Path) -> None:
    (finding,) = _by_check(diagnose(Settings(store=tmp_path / "x.sqlite")), "embeddings store")
    assert finding.severity is Severity.NOTE and "anonymiser enrol" in finding.message
    assert not (tmp_path / "x.sqlite").exists()


def test_watched_folder_events_or_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    (root / "incoming").mkdir(parents=True)
    report = diagnose(Settings(), watch_root=root)
    (events,) = _by_check(report, "watched folder")
    assert events.severity is Severity.OK and "events work" in events.message
    monkeypatch.setattr("anonymiser.watch.scanner.is_network_fs", lambda p: True)
    (share,) = _by_check(diagnose(Settings(), watch_root=root), "watched folder")
    assert share.severity is Severity.NOTE and "polls" in share.message


def test_without_read_leases_the_settle_time_decides(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(doctor.sys, "platform", "win32")
    monkeypatch.setattr(doctor.platform, "system", lambda: "Windows")
    (finding,) = _by_check(diagnose(Settings(), watch_root=tmp_path), "file completeness")
    assert finding.severity is Severity.NOTE and "--settle" in finding.message


def test_low_disk_space_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 9 * 10**8, 100 * 1024**2))
    report = diagnose(Settings(store=tmp_path / "s.sqlite"), output=tmp_path / "safe")
    (finding,) = _by_check(report, "disk space")
    assert finding.severity is Severity.PROBLEM and "free some space" in finding.message
    assert report.exit_code == ExitCode.SOME_FAILED
