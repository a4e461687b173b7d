"""`anonymiser blur` end to end on real photos, with bad files mixed in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from anonymiser.cli import main
from anonymiser.media import scan_metadata
from anonymiser.results import Box
from tests.conftest import DATA, ROOT

pytestmark = pytest.mark.slow


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def batch(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, dict, dict[Path, str], int, str]:
    root = tmp_path_factory.mktemp("blur")
    inp = root / "photos"
    shutil.copytree(DATA / "faces", inp / "trip")
    (inp / "trip" / "faces.json").unlink()
    shutil.copy(DATA / "exif" / "thompson-springs.jpg", inp / "gps.jpg")
    shutil.copy(DATA / "exif" / "portrait.jpg", inp / "portrait.jpg")
    good = (DATA / "faces" / "2008_001322.jpg").read_bytes()
    (inp / "bad").mkdir()
    (inp / "bad" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (inp / "bad" / "empty.jpg").write_bytes(b"")
    (inp / "bad" / "notes.jpg").write_text("this is a text file, not a photo\n")
    (inp / "bad" / "corrupt.jpg").write_bytes(good[:600] + bytes(range(256)) * 40 + good[-300:])
    Image.new("RGB", (4000, 4000)).save(inp / "bad" / "bomb.png")  # 16 MP > the limit below
    (root / "settings.toml").write_text("max_pixels = 10_000_000\n")
    before = {p: _sha(p) for p in inp.rglob("*") if p.is_file()}
    out = root / "safe"
    result = CliRunner().invoke(
        main,
        ["blur", str(inp), "-o", str(out), "--text", "off", "--workers", "1",
         "--config", str(root / "settings.toml")],
    )  # fmt: skip
    report = json.loads((root / "safe-report.json").read_text())
    assert not (out / "report.json").exists()  # the report (source names) stays out of the outputs
    return inp, out, report, before, result.exit_code, result.output


def test_exit_code_says_some_failed(batch) -> None:
    _, _, report, _, code, output = batch
    assert code == 1, output
    assert report["summary"]["failed"] == 5
    assert "faces blurred" in output


def test_each_bad_file_has_its_own_error(batch) -> None:
    _, out, report, _, _, output = batch
    errors = {
        Path(i["source"]).name: i["error"] for i in report["images"] if i["status"] == "failed"
    }
    assert set(errors) == {"truncated.jpg", "empty.jpg", "notes.jpg", "corrupt.jpg", "bomb.png"}
    for name, error in errors.items():
        assert name in error and "\n" not in error
        assert "error: " in output
        assert not (out / "bad" / name).exists()
    assert "empty" in errors["empty.jpg"].lower() or "zero" in errors["empty.jpg"].lower()
    assert "pixels" in errors["bomb.png"] or "bomb" in errors["bomb.png"].lower()


def test_every_annotated_face_is_blurred(batch, face_boxes) -> None:
    _, out, report, _, _, _ = batch
    by_name = {Path(i["source"]).name: i for i in report["images"]}
    for name, boxes in face_boxes.items():
        image = by_name[name]
        assert image["status"] == "ok"
        blurred = [
            Box(*r["box"])
            for r in image["regions"]
            if r["kind"] == "face" and r["action"] == "blurred"
        ]
        for truth in map(lambda b: Box(*b), boxes):
            cx, cy = truth.centre
            assert any(
                b.iou(truth) >= 0.3 or (b.x <= cx <= b.x2 and b.y <= cy <= b.y2) for b in blurred
            ), f"{name}: face {truth} not blurred"
        # and the output's pixels there really changed
        src = np.asarray(Image.open(DATA / "faces" / name).convert("RGB"), dtype=int)
        dst = np.asarray(Image.open(out / "trip" / name).convert("RGB"), dtype=int)
        for x, y, w, h in boxes:
            assert np.abs(src[y : y + h, x : x + w] - dst[y : y + h, x : x + w]).mean() > 8


def test_outputs_carry_no_metadata_but_icc(batch) -> None:
    _, out, report, _, _, _ = batch
    for image in report["images"]:
        if image["status"] == "ok":
            assert scan_metadata(Path(image["output"])) == [], image["output"]
    gps = next(i for i in report["images"] if i["source"].endswith("gps.jpg"))
    assert "gps" in gps["metadata_removed"]
    with Image.open(DATA / "exif" / "thompson-springs.jpg") as a, Image.open(out / "gps.jpg") as b:
        assert a.info.get("icc_profile") and a.info.get("icc_profile") == b.info.get("icc_profile")
        assert not b.getexif()
    assert b"Curie" not in (out / "portrait.jpg").read_bytes()


def test_originals_unchanged_and_tree_mirrored(batch) -> None:
    inp, out, _, before, _, _ = batch
    assert {p: _sha(p) for p in inp.rglob("*") if p.is_file()} == before
    assert (out / "trip" / "2008_007676.jpg").is_file()
    assert not list(out.rglob("*.tmp*"))


def test_report_follows_the_contract(batch) -> None:
    _, _, report, _, _, _ = batch
    assert report["version"] == 1 and report["tool"].startswith("anonymiser ")
    assert report["settings"]["purpose"] == "social-media"
    for image in report["images"]:
        assert image["status"] in {"ok", "failed", "skipped"}
        for region in image["regions"]:
            assert set(region) >= {"kind", "box", "score", "pupil_id", "action", "reason"}
            assert len(region["box"]) == 4 and all(isinstance(v, int) for v in region["box"])


def test_real_subprocess_and_usage_errors(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "anonymiser"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "anonymiser"]
    src = DATA / "exif" / "hopper.jpg"
    run = subprocess.run([*cmd, "blur", str(src), "-o", str(tmp_path / "o"), "--text", "off", "-q"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "o" / "hopper.jpg").is_file()
    bad = subprocess.run([*cmd, "blur", str(src), "-o", str(tmp_path / "o"), "--purpose", "tiktok"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "tiktok" in bad.stderr
    missing = subprocess.run([*cmd, "blur", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "o2"), "--text", "off"],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert missing.returncode == 3 and "nope.jpg" in missing.stderr


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert (command.help or "").strip(), f"{name} has no help"


def _without_read_override(cmd: list[str]) -> list[str]:
    """``cmd`` run so that file permissions apply: root reads anything, so drop that power."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    caps = "-dac_override,-dac_read_search"
    wrapped = [setpriv or "setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    if setpriv is None or subprocess.run([*wrapped, "true"], capture_output=True).returncode:
        pytest.skip("running as root without a working setpriv: nothing is unreadable")
    return [*wrapped, *cmd]


def test_unreadable_or_missing_inputs_fail_alone(tmp_path: Path) -> None:
    photo = DATA / "exif" / "hopper.jpg"
    inp, locked_dir, locked = (
        tmp_path / "in",
        tmp_path / "in" / "lockeddir",
        tmp_path / "locked.jpg",
    )
    locked_dir.mkdir(parents=True)
    for path in (inp / "ok.jpg", locked_dir / "a.jpg", locked):
        shutil.copy(photo, path)
    locked.chmod(0)
    locked_dir.chmod(0)
    cmd = [sys.executable, "-m", "anonymiser", "blur", "in", "locked.jpg", "missing.jpg",
           "-o", "out", "--text", "off", "--workers", "1"]  # fmt: skip
    try:
        run = subprocess.run(
            _without_read_override(cmd), cwd=tmp_path, capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300,
        )  # fmt: skip
    finally:
        locked.chmod(0o644)
        locked_dir.chmod(0o755)
    assert run.returncode == 1, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert sorted(errors) == [
        "error: in/lockeddir: cannot read folder (Permission denied)",
        "error: locked.jpg: permission denied",
        "error: missing.jpg: file not found",
    ]
    assert "4 files: 1 ok, 3 failed" in run.stderr
    assert (tmp_path / "out" / "ok.jpg").is_file() and not (tmp_path / "out" / "lockeddir").exists()
    report = json.loads((tmp_path / "out-report.json").read_text())
    failed = {i["source"] for i in report["images"] if i["status"] == "failed"}
    assert failed == {"in/lockeddir", "locked.jpg", "missing.jpg"}


def test_output_onto_an_input_fails_alone(tmp_path: Path) -> None:
    bad2 = tmp_path / "bad2"
    bad2.mkdir()
    good = bad2 / "good.jpg"
    shutil.copy(DATA / "exif" / "hopper.jpg", good)
    before = _sha(good)
    result = CliRunner().invoke(
        main,
        ["blur", str(good), str(ROOT / "samples" / "astronaut.png"), "-o", str(bad2),
         "--text", "off", "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"error: {good}: output would overwrite the input\n" in result.output
    assert _sha(good) == before
    assert (bad2 / "astronaut.png").is_file()


def test_report_and_review_stay_out_of_output_given_as_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anonymiser.check import review_folder

    safe = tmp_path / "safe"
    safe.mkdir()
    monkeypatch.chdir(safe)
    result = CliRunner().invoke(
        main, ["blur", str(DATA / "exif" / "hopper.jpg"), "-o", ".", "--text", "off", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in safe.iterdir()] == ["hopper.jpg"]  # nothing but the safe copy
    report = json.loads((tmp_path / "safe-report.json").read_text())
    assert report["images"][0]["status"] == "ok"
    assert review_folder(Path(".")) == tmp_path.resolve() / "safe-review"
