"""`check`: the independent last gate catches what must not be published, passes normal outputs."""

from __future__ import annotations

import io
import shutil
import struct
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from anonymiser import ExitCode, Settings
from anonymiser.check import Checker, check_paths, review_folder, verify_batch
from anonymiser.results import BatchResult, ImageResult, Status

DATA = Path(__file__).resolve().parents[1] / "data"
FACES = DATA / "faces"
TODAY = date(2026, 10, 1)  # inside academic year 2026/27
CONSENT_CSV = (
    "pupil_id,first_name,last_name,academic_year,images_social_media,biometric_matching\n"
    "P0042,Amelia,Okafor,2026/27,no,no\n"
    "P0043,Theodore,Blackwood,2026/27,yes,no\n"
)


class NoFaces:
    """A face detector that finds nothing (for the checks that do not need the model)."""

    name = "none"

    def detect(self, rgb: np.ndarray, threshold: float = 0.3) -> list:
        return []


@pytest.fixture
def consent(tmp_path: Path):
    from anonymiser.consent import ConsentLog

    path = tmp_path / "consent.csv"
    path.write_text(CONSENT_CSV, encoding="utf-8")
    return ConsentLog.load(path)


@pytest.fixture
def settings() -> Settings:
    return Settings(on_date=TODAY)


def plain_jpeg(path: Path, exif: bytes | None = None) -> Path:
    im = Image.new("RGB", (320, 240), (90, 120, 160))
    im.save(path, "JPEG", **({"exif": exif} if exif else {}))
    return path


def fast_checker(settings: Settings, consent=None) -> Checker:
    return Checker(settings, consent, face_detector=NoFaces(), text_detector=None)


# -- metadata and file names (no models) -----------------------------------------------------


def test_exif_gps_is_a_finding(tmp_path: Path, settings: Settings) -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS IFD: latitude
    path = plain_jpeg(tmp_path / "gps.jpg", exif.tobytes())
    findings = check_paths([path], settings=settings, checker=fast_checker(settings))
    assert {f.kind for f in findings} == {"metadata"}
    assert any("gps" in f.detail for f in findings)


def _jpeg_with_exif_thumbnail(path: Path) -> Path:
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 50, 50)).save(small, "JPEG")
    thumb = small.getvalue()
    # TIFF (little-endian): IFD0 with Orientation, IFD1 pointing at an embedded JPEG thumbnail.
    ifd1 = 8 + 2 + 12 + 4
    data_at = ifd1 + 2 + 3 * 12 + 4
    tiff = b"II*\x00" + struct.pack("<I", 8)
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 1) + struct.pack("<I", ifd1)
    tiff += struct.pack("<H", 3) + struct.pack("<HHII", 0x0103, 3, 1, 6)
    tiff += struct.pack("<HHII", 0x0201, 4, 1, data_at) + struct.pack(
        "<HHII", 0x0202, 4, 1, len(thumb)
    )
    tiff += struct.pack("<I", 0) + thumb
    app1 = b"Exif\x00\x00" + tiff
    main = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 160)).save(main, "JPEG")
    jpeg = main.getvalue()
    path.write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
    return path


def test_embedded_thumbnail_is_a_finding(tmp_path: Path, settings: Settings) -> None:
    path = _jpeg_with_exif_thumbnail(tmp_path / "thumb.jpg")
    findings = check_paths([path], settings=settings, checker=fast_checker(settings))
    assert any(f.kind == "metadata" and "thumbnail" in f.detail for f in findings)


def test_name_in_file_name_is_a_finding(tmp_path: Path, settings: Settings, consent) -> None:
    folder = tmp_path / "safe"
    folder.mkdir()
    plain_jpeg(folder / "Amelia_Okafor_sports_day.jpg")
    plain_jpeg(folder / "photo-0001.jpg")
    findings = check_paths([folder], settings=settings, checker=fast_checker(settings, consent))
    assert [(Path(f.path).name, f.kind) for f in findings] == [
        ("Amelia_Okafor_sports_day.jpg", "file-name")
    ]
    assert "Amelia" not in findings[0].detail and "Okafor" not in findings[0].detail


def test_clean_file_passes_and_cli_exit_codes(tmp_path: Path) -> None:
    from anonymiser.cli import main

    clean = plain_jpeg(tmp_path / "clean.jpg")
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    dirty = plain_jpeg(tmp_path / "dirty.jpg", exif.tobytes())
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(clean)])
    assert ok.exit_code == ExitCode.OK, ok.output
    bad = runner.invoke(main, ["check", str(clean), str(dirty)])
    assert bad.exit_code == ExitCode.FINDINGS
    lines = [line for line in bad.stdout.splitlines() if line.strip()]
    assert lines and all(line.startswith(str(dirty)) for line in lines)


def test_verify_batch_moves_failing_output_out_of_the_output_folder(
    tmp_path: Path, settings: Settings
) -> None:
    from anonymiser.pipeline import Anonymiser

    out = tmp_path / "safe"
    out.mkdir()
    good = plain_jpeg(out / "good.jpg")
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    (out / "sub").mkdir()
    bad = plain_jpeg(out / "sub" / "bad.jpg", exif.tobytes())
    batch = BatchResult(
        (
            ImageResult("in/good.jpg", str(good), Status.OK, 320, 240),
            ImageResult("in/sub/bad.jpg", str(bad), Status.OK, 320, 240),
            ImageResult("in/broken.jpg", None, Status.FAILED, error="in/broken.jpg: truncated"),
        )
    )
    anon = Anonymiser(settings, face_detector=NoFaces())
    result = verify_batch(batch, anon, out)
    assert [r.status for r in result.images] == [Status.OK, Status.FAILED, Status.FAILED]
    failed = result.images[1]
    assert failed.output is None and "verification failed" in (failed.error or "")
    held = review_folder(out) / "sub" / "bad.jpg"
    assert failed.extra["held_for_review"] == str(held)
    assert held.exists() and not bad.exists() and good.exists()
    assert "gps" in held.with_name("bad.jpg.reason.txt").read_text()
    assert not str(held).startswith(str(out) + "/")  # never inside the folder that is published


# -- real models ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blurred(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImageResult, Path]:
    """A real output of the pipeline (no consent log: every face blurred)."""
    from anonymiser.pipeline import Anonymiser

    tmp = tmp_path_factory.mktemp("blurred")
    src = FACES / "2008_001322.jpg"
    anon = Anonymiser(Settings(text="off"))
    result = anon.process_file(src, tmp / "out" / "photo.jpg")
    assert result.status is Status.OK and result.faces_blurred >= 1
    return src, result, tmp


@pytest.mark.slow
def test_normal_output_passes(blurred: tuple[Path, ImageResult, Path]) -> None:
    _, result, _ = blurred
    assert check_paths([result.output], settings=Settings()) == []


@pytest.mark.slow
def test_unblurred_face_left_in_an_output_is_caught(
    blurred: tuple[Path, ImageResult, Path],
) -> None:
    from anonymiser import media
    from anonymiser.redact import redaction_area
    from anonymiser.results import Kind

    src, result, tmp = blurred
    original = media.load_image(src, max_pixels=10**8).rgb
    safe = media.load_image(result.output, max_pixels=10**8).rgb.copy()
    face = max((r for r in result.regions if r.kind is Kind.FACE), key=lambda r: r.box.area)
    area = redaction_area(face, result.width, result.height)
    # Deliberately leave one face unblurred: put the original pixels back.
    safe[area.y : area.y2, area.x : area.x2] = original[area.y : area.y2, area.x : area.x2]
    tampered = tmp / "tampered.png"
    Image.fromarray(safe).save(tampered)

    findings = check_paths([tampered], settings=Settings())
    faces = [f for f in findings if f.kind == "face"]
    assert faces, findings
    assert any(f.box is not None and f.box.iou(face.box) > 0.3 for f in faces)
    # The same face, when the report says it was kept with consent, is not a finding.
    kept = {str(tampered): [face.box]}
    assert [
        f
        for f in check_paths([tampered], settings=Settings(), kept=kept)
        if f.box and f.box.iou(face.box) > 0.3
    ] == []


@pytest.fixture(scope="module")
def small_faces() -> tuple[np.ndarray, np.ndarray, ImageResult, Checker]:
    """A photo scaled so its three faces are 24-31 px wide, and its normal output."""
    import cv2

    from anonymiser import media
    from anonymiser.pipeline import Anonymiser

    full = media.load_image(FACES / "2008_001322.jpg", max_pixels=10**8).rgb
    original = cv2.resize(full, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    anon = Anonymiser(Settings(text="off", workers=1))
    safe, result = anon.process_array(original)
    assert result.faces_blurred == 3
    return original, safe, result, Checker(Settings(), face_detector=anon.face_detector)


@pytest.mark.slow
@pytest.mark.parametrize("contrast", [1.0, 0.25])
def test_small_and_low_contrast_faces_left_in_an_output_are_caught(
    small_faces: tuple[np.ndarray, np.ndarray, ImageResult, Checker], contrast: float
) -> None:
    """Each ~30 px face pasted back, as is and at a quarter of its contrast, is a finding; the
    faint ones are confirmed by the second look (zoomed crop), not by sharpness."""
    from anonymiser.redact import redaction_area
    from anonymiser.results import Kind

    original, safe, result, checker = small_faces
    assert checker.check_faces(Path("normal.jpg"), safe) == []
    for face in (r for r in result.regions if r.kind is Kind.FACE):
        assert face.box.w <= 32
        area = redaction_area(face, result.width, result.height)
        patch = original[area.y : area.y2, area.x : area.x2].astype(np.float32)
        patch = patch.mean() + (patch - patch.mean()) * contrast
        tampered = safe.copy()
        tampered[area.y : area.y2, area.x : area.x2] = np.clip(patch, 0, 255).astype(np.uint8)
        found = checker.check_faces(Path("tampered.jpg"), tampered)
        assert any(f.box is not None and f.box.iou(face.box) > 0.3 for f in found), face.box
        if contrast < 1:
            assert all("zoomed" in f.detail for f in found)


@pytest.mark.slow
def test_legible_roster_name_is_caught(tmp_path: Path, settings: Settings, consent) -> None:
    im = Image.new("RGB", (640, 240), (250, 250, 245))
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=56)
    draw.text((40, 40), "Amelia Okafor", fill=(20, 20, 20), font=font)
    draw.text((40, 140), "Sports Day", fill=(20, 20, 20), font=font)
    path = tmp_path / "badge.png"
    im.save(path)
    checker = Checker(settings, consent, face_detector=NoFaces())
    findings = check_paths([path], settings=settings, checker=checker)
    names = [f for f in findings if f.kind == "name-text"]
    assert len(names) == 1, findings
    assert "P0042" in names[0].detail and "Amelia" not in names[0].detail
    assert names[0].box is not None and names[0].box.y < 120  # the name line, not "Sports Day"
    # Without a consent log there is no roster: the name part is skipped, with a warning.
    quiet = Checker(settings, None, face_detector=NoFaces())
    assert check_paths([path], settings=settings, checker=quiet) == []
    assert any("no consent log" in w for w in quiet.warnings)


@pytest.mark.slow
def test_sample_outputs_pass(tmp_path: Path) -> None:
    """Normal outputs of two real photos (a class photo among them) pass the check."""
    from anonymiser.pipeline import Anonymiser

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("solvay-1927-small.jpg", "2009_004587.jpg"):
        shutil.copy(FACES / name, inputs / name)
    batch = Anonymiser(Settings(text="off", workers=1)).process_batch([inputs], tmp_path / "out")
    assert all(r.status is Status.OK for r in batch.images)
    assert check_paths([tmp_path / "out"], settings=Settings()) == []


def test_a_detector_shared_with_the_pipeline_is_used_without_mirroring(settings: Settings) -> None:
    """The check's thresholds were measured on single passes; it shares the model, not the
    pipeline's mirrored passes for small photos."""
    from anonymiser.detect.faces import CenterFaceDetector

    shared = CenterFaceDetector(threads=1)
    checker = Checker(settings, face_detector=shared, text_detector=None)
    assert shared.mirror and not checker.face_detector.mirror
    assert shared.rotated and not checker.face_detector.rotated
    assert checker.face_detector._session is shared._session
    assert not Checker(settings).face_detector.mirror
    assert not Checker(settings).face_detector.rotated
