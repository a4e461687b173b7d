"""A broken install stops a run before the first file (exit 4, one line); a bug exits 70."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from anonymiser import ExitCode, models
from anonymiser.cli import main
from tests.conftest import DATA


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, dict[Path, str]]:
    inp = tmp_path / "photos"
    inp.mkdir()
    (inp / "class.jpg").write_bytes((DATA / "faces" / "2008_001322.jpg").read_bytes())
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in inp.iterdir()}
    return inp, before


def _stops_before_first_file(result, inp: Path, before: dict[Path, str], tmp: Path) -> None:
    assert result.exit_code == ExitCode.MODEL_MISSING, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model centerface"), lines
    assert "reinstall" in lines[0]
    assert not (tmp / "safe").exists() and not (tmp / "safe-report.json").exists()
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in inp.iterdir()} == before


@pytest.mark.parametrize(
    ("fixture", "word"), [("broken_model", "altered"), ("missing_model", "missing")]
)
def test_a_bad_model_stops_blur_before_the_first_file(
    photos, tmp_path: Path, request: pytest.FixtureRequest, fixture: str, word: str
) -> None:
    request.getfixturevalue(fixture)
    inp, before = photos
    result = CliRunner().invoke(main, ["blur", str(inp), "-o", str(tmp_path / "safe")])
    _stops_before_first_file(result, inp, before, tmp_path)
    assert word in result.stderr


@pytest.mark.usefixtures("broken_model")
def test_altered_model_stops_the_watcher_before_the_first_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "incoming").mkdir(parents=True)
    photo = root / "incoming" / "class.jpg"
    photo.write_bytes((DATA / "faces" / "2008_001322.jpg").read_bytes())
    result = CliRunner().invoke(main, ["watch", str(root), "--once"])
    assert result.exit_code == ExitCode.MODEL_MISSING, result.output
    assert "error: model centerface" in result.stderr
    assert photo.exists()  # left where it was, not failed
    for folder in ("failed", "ready", "review", "originals"):
        assert not [p for p in (root / folder).rglob("*") if p.is_file()], folder


@pytest.mark.usefixtures("broken_model")
def test_injected_engines_need_no_model_file() -> None:
    from anonymiser import Anonymiser, Settings

    class NoFaces:
        def detect(self, rgb, threshold=0.3):
            return []

    Anonymiser(Settings(text="off"), face_detector=NoFaces()).check_models()  # no error
    with pytest.raises(models.ModelError):
        Anonymiser(Settings(text="off")).check_models()


def _boom(*args, **kwargs):
    raise RuntimeError("something the code did not expect")


def test_an_unexpected_exception_exits_70_with_one_line(
    photos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("anonymiser.pipeline.Anonymiser.process_batch", _boom)
    inp, _ = photos
    args = ["blur", str(inp), "-o", str(tmp_path / "safe"), "--text", "off", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == ExitCode.INTERNAL == 70, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("warning: no consent log"), lines
    assert "please report it" in lines[1] and "-v" in lines[1]
    assert "RuntimeError: something the code did not expect" in lines[1]
    assert "Traceback" not in result.output


def test_the_traceback_only_with_verbose(photos, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("anonymiser.pipeline.Anonymiser.process_batch", _boom)
    inp, _ = photos
    args = ["-v", "blur", str(inp), "-o", str(tmp_path / "safe"), "--text", "off", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 70
    assert "Traceback" in result.stderr and "_boom" in result.stderr


def test_a_bug_in_any_command_exits_70(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sub-commands too (the group runs every command under the same handler)."""
    monkeypatch.setattr("anonymiser.consent.ConsentLog.validate", _boom)
    csv = tmp_path / "consent.csv"
    csv.write_text("pupil_id\n")
    result = CliRunner().invoke(main, ["consent", "validate", str(csv)])
    assert result.exit_code == 70 and "please report it" in result.stderr


def test_usage_errors_stay_usage_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["blur", str(tmp_path)])  # no -o
    assert result.exit_code == ExitCode.USAGE
