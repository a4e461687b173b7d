"""A folder with a photo, an animated GIF and a PDF: the photo is anonymised, the other two are
listed with their reason (blur: report and summary, exit 1; the watcher: failed/ with a note),
in the one wording of ``anonymiser.inputs.unsupported_reason``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from anonymiser.cli import main
from anonymiser.inputs import unsupported_reason
from tests.conftest import DATA

pytestmark = pytest.mark.slow  # the real face model, on a 128 px photo


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    folder = tmp_path / "trip"
    folder.mkdir()
    shutil.copy(DATA / "exif" / "hopper.jpg", folder / "photo.jpg")
    frames = [Image.new("RGB", (32, 32), (255 * i, 0, 0)) for i in range(3)]
    frames[0].save(folder / "party.gif", save_all=True, append_images=frames[1:], duration=100)
    (folder / "newsletter.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (folder / "Thumbs.db").write_bytes(b"\0")
    return folder


def test_blur_lists_what_it_did_not_process(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "safe"
    result = CliRunner().invoke(main, ["blur", str(mixed), "-o", str(out), "--text", "off"])
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "safe-report.json").read_text())
    by_name = {Path(i["source"]).name: i for i in report["images"]}
    assert by_name["photo.jpg"]["status"] == "ok" and (out / "photo.jpg").is_file()
    for name in ("party.gif", "newsletter.pdf"):
        assert by_name[name]["status"] == "skipped"
        assert by_name[name]["reason"] == unsupported_reason(mixed / name)
        assert f"skipped: {mixed / name}: {unsupported_reason(mixed / name)}" in result.stderr
        assert not (out / name).exists()
    assert "animated or not" in by_name["party.gif"]["reason"]
    assert report["summary"]["skipped"] == 2 and report["summary"]["failed"] == 0
    assert report["ignored"] == [str(mixed / "Thumbs.db")] and report["summary"]["ignored"] == 1
    assert "3 files: 1 ok, 0 failed, 2 skipped (not photos or videos), 1 hidden" in result.stderr


def test_the_watcher_puts_them_in_failed_with_the_same_reason(mixed: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(mixed, root / "incoming")
    result = CliRunner().invoke(
        main, ["watch", str(root), "--once", "--settle", "0", "--text", "off"]
    )
    assert result.exit_code == 1, result.output  # --once: some failed
    assert (root / "ready" / "photo.jpg").is_file()
    for name in ("party.gif", "newsletter.pdf"):
        assert (root / "failed" / name).is_file()
        assert unsupported_reason(name) in (root / "failed" / f"{name}.txt").read_text()
    assert (root / "incoming" / "Thumbs.db").exists()  # system files are left alone
