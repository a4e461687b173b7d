"""Options shared by several commands: ``--consent`` and ``--date`` behave the same everywhere."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from anonymiser import ExitCode
from anonymiser.cli import main
from anonymiser.results import Box, Detection, Kind


def _commands_taking_consent(tmp_path: Path, consent: str) -> dict[str, list[str]]:
    return {
        "blur": ["blur", str(tmp_path / "in.jpg"), "-o", str(tmp_path / "out"), "--consent", consent],
        "watch": ["watch", str(tmp_path / "root"), "--once", "--consent", consent],
        "check": ["check", str(tmp_path), "--consent", consent],
        "enrol": ["enrol", consent],
        "withdraw": ["withdraw", "P1", "--consent", consent],
        "consent show": ["consent", "show", "P1", "--consent", consent],
        "consent validate": ["consent", "validate", consent],
    }  # fmt: skip


@pytest.mark.parametrize(
    "command",
    ["blur", "watch", "check", "enrol", "withdraw", "consent show", "consent validate"],
)
@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_unreadable_consent_log_exits_5_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, kind: str
) -> None:
    monkeypatch.setenv("ANONYMISER_HOME", str(tmp_path / "home"))
    consent = tmp_path / ("missing.csv" if kind == "missing" else "folder")
    if kind == "folder":
        consent.mkdir()
    args = _commands_taking_consent(tmp_path, str(consent))[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == ExitCode.CONSENT_INVALID, result.output
    assert f"{consent}: cannot read consent log" in result.output
    assert "Usage:" not in result.output
    assert not (tmp_path / "root").exists()  # the watcher did not start
    assert not list(tmp_path.glob("*.withdrawals.csv"))  # no withdrawal beside a typo


def _date_options(group: click.Group, prefix: str = "") -> dict[str, click.Parameter]:
    found: dict[str, click.Parameter] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.update(_date_options(command, f"{prefix}{name} "))
        for param in command.params:
            if "--date" in getattr(param, "opts", []):
                found[f"{prefix}{name}"] = param
    return found


def test_every_date_option_takes_iso_and_uk_dates() -> None:
    options = _date_options(main)
    assert {"blur", "watch", "check", "enrol", "withdraw", "consent show"} <= set(options)
    ctx = click.Context(main)
    for name, param in options.items():
        for text in ("2026-09-01", "01/09/2026", "1/9/2026"):
            assert param.type.convert(text, param, ctx) == datetime(2026, 9, 1), (name, text)
        with pytest.raises(click.BadParameter):
            param.type.convert("09/31/2026", param, ctx)  # US order is not guessed at
        help_text = getattr(param, "help", "") or ""
        assert "YYYY-MM-DD" in help_text and "DD/MM/YYYY" in help_text, name


def test_uk_dates_reach_the_commands(csv_path: Path) -> None:
    show = CliRunner().invoke(
        main,
        ["consent", "show", "P1", "--consent", str(csv_path), "--date", "01/09/2026", "--json"],
    )
    assert show.exit_code == 0, show.output
    assert json.loads(show.output)["academic_year"] == "2026/27"
    gone = CliRunner().invoke(
        main, ["withdraw", "P1", "--consent", str(csv_path), "--date", "05/10/2026"]
    )
    assert gone.exit_code == 0 and "withdrawal from 05/10/2026 recorded" in gone.output


class _OneFace:
    name = "fake"

    def detect(self, rgb: np.ndarray, threshold: float) -> list[Detection]:
        return [Detection(Kind.FACE, Box(4, 4, 16, 16), 0.9, self.name)]


def test_blur_warns_when_the_log_has_no_rows_for_the_year(
    tmp_path: Path, csv_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anonymiser.pipeline

    class FakeModels(anonymiser.pipeline.Anonymiser):
        def __init__(self, settings: Any, consent: Any) -> None:
            super().__init__(settings, consent, face_detector=_OneFace())

    monkeypatch.setattr(anonymiser.pipeline, "Anonymiser", FakeModels)
    src = tmp_path / "in.jpg"
    Image.new("RGB", (32, 32), "grey").save(src)
    args = ["blur", str(src), "-o", str(tmp_path / "out"), "--consent", str(csv_path)]
    args += ["--text", "off", "--workers", "1"]
    late = CliRunner().invoke(main, [*args, "--date", "01/09/2027"])
    assert late.exit_code == 0, late.output
    assert (
        f"warning: {csv_path}: no rows for academic year 2027/28 — every face will be blurred "
        "(export this year's consent log)"
    ) in late.output
    in_year = CliRunner().invoke(main, [*args, "--date", "2027-08-31"])
    assert in_year.exit_code == 0 and "no rows for academic year" not in in_year.output


def test_check_hints_at_report_when_a_face_is_found_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anonymiser.check
    from anonymiser.check import Finding

    def fake_check(paths: Any, **kw: Any) -> list[Finding]:
        return [Finding(str(tmp_path / "a.jpg"), "face", "unblurred face", Box(1, 2, 3, 4))]

    monkeypatch.setattr(anonymiser.check, "check_paths", fake_check)
    (tmp_path / "a.jpg").write_bytes(b"")
    without = CliRunner().invoke(main, ["check", str(tmp_path / "a.jpg")])
    assert without.exit_code == ExitCode.FINDINGS
    assert "hint: without --report" in without.stderr
    report = tmp_path / "safe-report.json"
    report.write_text('{"images": []}')
    given = CliRunner().invoke(main, ["check", str(tmp_path / "a.jpg"), "--report", str(report)])
    assert given.exit_code == ExitCode.FINDINGS and "hint:" not in given.stderr


@pytest.mark.parametrize("command", ["blur", "watch"])
def test_device_option(tmp_path: Path, command: str) -> None:
    args = {"blur": ["blur", str(tmp_path / "in.jpg"), "-o", str(tmp_path / "out")],
            "watch": ["watch", str(tmp_path / "root"), "--once"]}[command]  # fmt: skip
    help_text = CliRunner().invoke(main, [command, "--help"]).output
    assert "--device [auto|cpu|cuda]" in help_text
    result = CliRunner().invoke(main, [*args, "--device", "gpu"])
    assert result.exit_code == ExitCode.USAGE, result.output


@pytest.mark.parametrize("value", ["0", "-2"])
def test_watch_workers_must_be_at_least_one(tmp_path: Path, value: str) -> None:
    result = CliRunner().invoke(main, ["watch", str(tmp_path / "root"), "--workers", value])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: --workers {value}: must be at least 1"
    assert not (tmp_path / "root").exists()  # refused before anything was created
    assert "--workers" in CliRunner().invoke(main, ["watch", "--help"]).output
