"""anonymiser.media on small images generated in tmp_path."""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin, TiffImagePlugin

from anonymiser import inputs, media
from anonymiser.errors import MediaError, UnsupportedMediaError
from tests.conftest import exiftool_groups

MAX = 10_000_000
NAMES = (b"Marie Curie", b"Pierre Curie")
XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/">'
    b"<mwg-rs:Regions><mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Name="
    b'"Marie Curie" mwg-rs:Type="Face"/></rdf:li><rdf:li><rdf:Description mwg-rs:Name='
    b'"Pierre Curie" mwg-rs:Type="Face"/></rdf:li></rdf:Bag></mwg-rs:RegionList>'
    b'</mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# -- sample makers ----------------------------------------------------------------------------


def picture(w: int = 48, h: int = 32) -> np.ndarray:
    """A smooth, asymmetric RGB picture (every orientation looks different)."""
    y, x = np.mgrid[0:h, 0:w]
    r = 255 * x / (w - 1)
    g = 255 * y / (h - 1)
    b = np.where((x < w // 3) & (y < h // 2), 230, 30)
    return np.dstack([r, g, b]).round().astype(np.uint8)


def exif_blob(thumb: bytes) -> bytes:
    """Little-endian EXIF/TIFF: IFD0 (Make, ExifIFD -> MakerNote, GPS) -> IFD1 (thumbnail)."""
    make, maker = b"SchoolCam\0", b"MAKERNOTE Marie Curie"
    ifd0, exif_ifd = 8, 8 + 2 + 36 + 4
    gps = exif_ifd + 2 + 12 + 4
    ifd1 = gps + 2 + 24 + 4
    data = ifd1 + 2 + 24 + 4
    make_at, maker_at = data, data + len(make)
    lat_at = maker_at + len(maker)
    thumb_at = lat_at + 24

    def e(tag: int, typ: int, cnt: int, val: int) -> bytes:
        return struct.pack("<HHII", tag, typ, cnt, val)

    out = b"II*\0" + struct.pack("<I", ifd0)
    out += struct.pack("<H", 3) + e(271, 2, len(make), make_at) + e(34665, 4, 1, exif_ifd)
    out += e(34853, 4, 1, gps) + struct.pack("<I", ifd1)
    out += struct.pack("<H", 1) + e(37500, 7, len(maker), maker_at) + struct.pack("<I", 0)
    out += struct.pack("<H", 2) + e(0, 1, 4, 0x0302) + e(2, 5, 3, lat_at) + struct.pack("<I", 0)
    out += struct.pack("<H", 2) + e(513, 4, 1, thumb_at) + e(514, 4, 1, len(thumb))
    out += struct.pack("<I", 0)
    assert len(out) == data
    return out + make + maker + struct.pack("<6I", 51, 1, 30, 1, 0, 1) + thumb


def jpeg_bytes(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_with_everything(path: Path) -> Path:
    """JPEG with EXIF (GPS, maker note, thumbnail), XMP face regions, IPTC, COM and ICC."""
    thumb = jpeg_bytes(picture(8, 8))
    data = jpeg_bytes(
        picture(),
        exif=b"Exif\0\0" + exif_blob(thumb),
        icc_profile=SRGB_ICC,
        comment=b"Marie Curie at sports day",
        xmp=XMP,
    )
    iptc = b"\x1c\x02\x19" + struct.pack(">H", 11) + b"Marie Curie"
    irb = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(iptc)) + iptc
    data = data[:2] + segment(0xED, b"Photoshop 3.0\0" + irb) + data[2:]
    path.write_bytes(data)
    return path


def png_with_everything(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Pierre Curie")
    info.add_text("Comment", "Marie Curie", zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    Image.fromarray(picture()).save(
        path, "PNG", pnginfo=info, icc_profile=SRGB_ICC, exif=exif_blob(b"")
    )
    return path


def cmyk_grey_icc() -> bytes:
    """A tiny ICC v2 CMYK -> Lab profile whose A2B0 table maps every colour to one grey."""
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", 5) + b"grey\0" + b"\0" * 78
    wtpt = b"XYZ " + b"\0" * 4 + struct.pack(">iii", 63190, 65536, 54061)
    ident = bytes(range(256))
    matrix = struct.pack(">9i", 65536, 0, 0, 0, 65536, 0, 0, 0, 65536)
    a2b0 = b"mft1" + b"\0" * 4 + bytes([4, 3, 2, 0]) + matrix + ident * 4 + b"\x80" * 48 + ident * 3
    tags = [(b"desc", desc), (b"wtpt", wtpt), (b"A2B0", a2b0)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, tag in tags:
        tag += b"\0" * (-len(tag) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(tag))
        body += tag
    header = struct.pack(">I", offset + len(body)) + b"lcms" + bytes([2, 0x10, 0, 0])
    header += b"prtrCMYKLab " + b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0" * 4
    header += struct.pack(">iii", 63190, 65536, 54061) + b"\0" * 48
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def exiftool_findings(path: Path) -> list[str]:
    """Tags exiftool sees in ``path`` beyond the image structure and the ICC profile."""
    structural = {
        "ImageWidth", "ImageHeight", "BitDepth", "ColorType", "Compression", "Filter",
        "Interlace", "ProfileName", "BitsPerSample", "PhotometricInterpretation",
        "StripOffsets", "SamplesPerPixel", "RowsPerStrip", "StripByteCounts",
        "PlanarConfiguration", "ExtraSamples", "Predictor", "Palette", "Transparency",
        "SRGBRendering", "Gamma", "PixelsPerUnitX", "PixelsPerUnitY", "PixelUnits",
    }  # fmt: skip
    free_groups = {"ExifTool", "System", "File", "JFIF", "Composite", "RIFF", "SourceFile"}
    findings = []
    for key, value in exiftool_groups(path).items():
        group, _, tag = key.partition(":")
        if group.startswith("ICC") or key == "SourceFile" or tag == "Warning":
            continue
        if tag == "Comment" or (group not in free_groups and tag not in structural):
            findings.append(f"{key}={value}")
    return findings


def assert_clean(path: Path) -> None:
    data = path.read_bytes()
    assert media.scan_metadata(path) == []
    for name in NAMES:
        assert name not in data
    assert exiftool_findings(path) == []


# -- loading ----------------------------------------------------------------------------------

INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
def test_png_orientation_is_applied_exactly(tmp_path: Path, orientation: int) -> None:
    shown = picture()
    stored = Image.fromarray(shown)
    if orientation in INVERSE:
        stored = stored.transpose(INVERSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    stored.save(path, exif=exif.tobytes())
    loaded = media.load_image(path, max_pixels=MAX)
    assert (loaded.width, loaded.height) == (48, 32)
    assert loaded.rgb.flags.c_contiguous and loaded.rgb.flags.writeable
    np.testing.assert_array_equal(loaded.rgb, shown)
    assert "exif" in loaded.metadata_found


@pytest.mark.parametrize("orientation", [0, 3, 6, 8])
def test_jpeg_and_tiff_orientation(tmp_path: Path, orientation: int) -> None:
    shown = picture(64, 40)
    stored = Image.fromarray(shown)
    if orientation in INVERSE:
        stored = stored.transpose(INVERSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    for name in ("o.jpg", "o.tif"):
        stored.save(tmp_path / name, exif=exif.tobytes(), quality=95)
        loaded = media.load_image(tmp_path / name, max_pixels=MAX)
        diff = np.abs(loaded.rgb.astype(int) - shown.astype(int)).mean()
        assert diff < 3, (name, diff)


@pytest.mark.parametrize(
    ("fmt", "suffix", "exact"),
    [("PNG", ".png", True), ("BMP", ".bmp", True), ("TIFF", ".tif", True),
     ("JPEG", ".jpg", False), ("WEBP", ".webp", False)],
)  # fmt: skip
def test_round_trip_keeps_format(tmp_path: Path, fmt: str, suffix: str, exact: bool) -> None:
    src = tmp_path / f"in{suffix}"
    Image.fromarray(picture()).save(src, fmt)
    loaded = media.load_image(src, max_pixels=MAX)
    assert loaded.format == fmt and loaded.alpha is None and loaded.source == src
    out = tmp_path / "out" / f"safe{suffix}"
    assert media.save_image(out, loaded.rgb, loaded) == []
    with Image.open(out) as im:
        assert im.format == fmt and im.mode == "RGB"
    again = media.load_image(out, max_pixels=MAX).rgb
    diff = np.abs(again.astype(int) - picture().astype(int)).mean()
    assert diff == 0 if exact else diff < 4
    assert out.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temp left


def test_greyscale_becomes_rgb(tmp_path: Path) -> None:
    src = tmp_path / "grey.png"
    Image.fromarray(picture()[:, :, 0]).save(src)
    rgb = media.load_image(src, max_pixels=MAX).rgb
    assert rgb.shape == (32, 48, 3)
    np.testing.assert_array_equal(rgb[:, :, 0], rgb[:, :, 2])


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    src = tmp_path / "deep.png"
    Image.fromarray(values).save(src)
    with Image.open(src) as im:
        assert im.mode.startswith("I")
    rgb = media.load_image(src, max_pixels=MAX).rgb
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255]


def test_16_bit_rgb_png_and_tiff(tmp_path: Path) -> None:
    import cv2

    deep = (picture().astype(np.uint16) * 257)[:, :, ::-1]  # BGR for OpenCV
    for name in ("deep.png", "deep.tif"):
        cv2.imwrite(str(tmp_path / name), deep)
        rgb = media.load_image(tmp_path / name, max_pixels=MAX).rgb
        assert np.abs(rgb.astype(int) - picture().astype(int)).max() <= 1, name


def test_palette_with_transparency_keeps_alpha(tmp_path: Path) -> None:
    pal = Image.fromarray(picture()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    index = np.asarray(pal)[0, 0]
    src = tmp_path / "pal.png"
    pal.save(src, transparency=int(index))
    loaded = media.load_image(src, max_pixels=MAX)
    assert loaded.alpha is not None
    mask = np.asarray(pal) == index
    assert (loaded.alpha[mask] == 0).all() and (loaded.alpha[~mask] == 255).all()
    out = tmp_path / "o.png"
    media.save_image(out, loaded.rgb, loaded)
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im)[:, :, 3], loaded.alpha)


@pytest.mark.parametrize(("mode", "fmt", "suffix"), [
    ("RGBA", "PNG", ".png"), ("LA", "PNG", ".png"), ("RGBA", "WEBP", ".webp"),
    ("RGBA", "TIFF", ".tif"),
])  # fmt: skip
def test_alpha_round_trip(tmp_path: Path, mode: str, fmt: str, suffix: str) -> None:
    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (32, 1))
    rgba = np.dstack([picture(), alpha])
    src = tmp_path / f"a{suffix}"
    Image.fromarray(rgba).convert(mode).save(src, fmt, lossless=True)
    loaded = media.load_image(src, max_pixels=MAX)
    assert loaded.alpha is not None
    np.testing.assert_array_equal(loaded.alpha, alpha)
    out = tmp_path / f"o{suffix}"
    media.save_image(out, loaded.rgb, loaded)
    back = media.load_image(out, max_pixels=MAX)
    assert back.alpha is not None
    assert np.abs(back.alpha.astype(int) - alpha.astype(int)).max() <= 2


def test_cmyk_uses_icc_profile(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (16, 8), (0, 0, 0, 0))
    plain, tagged = tmp_path / "plain.jpg", tmp_path / "tagged.jpg"
    cmyk.save(plain)
    cmyk.save(tagged, icc_profile=cmyk_grey_icc())
    a = media.load_image(plain, max_pixels=MAX)
    b = media.load_image(tagged, max_pixels=MAX)
    assert (a.rgb == 255).all()  # plain conversion: no ink is white
    assert (b.rgb < 200).all()  # the profile maps everything to a grey: it was used
    assert b.icc_profile is None  # a CMYK profile must not be attached to RGB output
    out = tmp_path / "o.jpg"
    media.save_image(out, b.rgb, b)
    with Image.open(out) as im:
        assert im.mode == "RGB" and "icc_profile" not in im.info


def test_heic_is_written_as_jpeg(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    media._register_heif()
    src = tmp_path / "IMG_0001.HEIC"
    exif = Image.Exif()
    exif[0x010F] = "Phone"
    Image.fromarray(picture()).save(src, "HEIF", exif=exif.tobytes(), xmp=XMP)
    loaded = media.load_image(src, max_pixels=MAX)
    assert loaded.format == "HEIF" and loaded.rgb.shape == (32, 48, 3)
    assert {"exif", "xmp", "mwg-face-regions"} <= set(loaded.metadata_found)
    assert media.output_suffix(loaded) == ".jpg"
    assert media.output_suffix(src) == ".jpg"
    out = tmp_path / ("IMG_0001" + media.output_suffix(loaded))
    media.save_image(out, loaded.rgb, loaded)
    with Image.open(out) as im:
        assert im.format == "JPEG"
    assert_clean(out)


# -- bad inputs -------------------------------------------------------------------------------


def _expect_error(path: Path, text: str, exc: type[MediaError] = MediaError, **kw: int) -> None:
    with pytest.raises(exc) as info:
        media.load_image(path, max_pixels=kw.get("max_pixels", MAX))
    msg = str(info.value)
    assert str(path) in msg and text in msg and "\n" not in msg, msg


def test_missing_empty_folder_and_text(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.jpg", "not found")
    (tmp_path / "empty.jpg").write_bytes(b"")
    _expect_error(tmp_path / "empty.jpg", "empty file")
    (tmp_path / "dir.jpg").mkdir()
    _expect_error(tmp_path / "dir.jpg", "folder")
    (tmp_path / "notes.jpg").write_text("this is not a photo\n")
    _expect_error(tmp_path / "notes.jpg", "not an image")


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "secret.jpg"
    src.write_bytes(jpeg_bytes(picture()))
    src.chmod(0)
    if os.geteuid() == 0:  # root reads anything: simulate the refusal
        real = Path.read_bytes

        def deny(self: Path) -> bytes:
            if self == src:
                raise PermissionError(13, "Permission denied")
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", deny)
    _expect_error(src, "permission denied")


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95, -2])
def test_truncated_jpeg_is_refused(tmp_path: Path, keep: float) -> None:
    data = jpeg_bytes(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    cut = int(len(data) * keep) if keep > 0 else len(data) + int(keep)
    src = tmp_path / "cut.jpg"
    src.write_bytes(data[:cut])
    _expect_error(src, "truncated")


def test_truncated_and_corrupt_png(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buf, "PNG"
    )
    data = buf.getvalue()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _expect_error(tmp_path / "cut.png", "")
    bad = bytearray(data)
    bad[len(bad) // 2 : len(bad) // 2 + 50] = b"\0" * 50  # damages IDAT: CRC fails
    (tmp_path / "bad.png").write_bytes(bytes(bad))
    _expect_error(tmp_path / "bad.png", "corrupt")


@pytest.mark.parametrize(("fmt", "suffix"), [("BMP", ".bmp"), ("TIFF", ".tif"), ("WEBP", ".webp")])
def test_truncated_other_formats(tmp_path: Path, fmt: str, suffix: str) -> None:
    buf = io.BytesIO()
    noise = np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, fmt)
    src = tmp_path / f"cut{suffix}"
    src.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 3 // 4])
    _expect_error(src, "")


def test_truncated_images_are_never_loaded_silently() -> None:
    from PIL import ImageFile

    import anonymiser  # noqa: F401  (nothing we import may switch this on)

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_corrupt_jpeg(tmp_path: Path) -> None:
    src = tmp_path / "junk.jpg"
    src.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    _expect_error(src, "")


def test_decompression_bomb(tmp_path: Path) -> None:
    src = tmp_path / "small.png"
    Image.fromarray(picture()).save(src)
    _expect_error(src, "too large", max_pixels=100)
    # A PNG header that declares 100000 x 100000 pixels: refused before decoding.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib_crc(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    )
    _expect_error(bomb, "too large")


def zlib_crc(data: bytes) -> int:
    import zlib

    return zlib.crc32(data) & 0xFFFFFFFF


@pytest.mark.parametrize(("fmt", "suffix"), [("GIF", ".gif"), ("WEBP", ".webp"), ("PNG", ".png")])
def test_animated_images_are_refused(tmp_path: Path, fmt: str, suffix: str) -> None:
    frames = [Image.fromarray(picture()), Image.fromarray(255 - picture())]
    src = tmp_path / f"anim{suffix}"
    frames[0].save(src, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    _expect_error(src, "animated images are not supported", UnsupportedMediaError)


def test_still_gif_is_unsupported(tmp_path: Path) -> None:
    src = tmp_path / "still.gif"
    Image.fromarray(picture()).save(src)
    _expect_error(src, "GIF images are not supported", UnsupportedMediaError)


# -- sanitised saving -------------------------------------------------------------------------


def test_jpeg_with_everything_is_cleaned(tmp_path: Path) -> None:
    src = jpeg_with_everything(tmp_path / "in.jpg")
    before = sha256(src)
    assert exiftool_findings(src)  # the sample really carries metadata
    loaded = media.load_image(src, max_pixels=MAX)
    assert set(loaded.metadata_found) == {
        "exif", "gps", "xmp", "iptc", "makernote", "thumbnail", "comment", "mwg-face-regions",
    }  # fmt: skip
    assert media.scan_metadata(src) == list(loaded.metadata_found)
    out = tmp_path / "out.jpg"
    removed = media.save_image(out, loaded.rgb, loaded)
    assert removed == list(loaded.metadata_found)
    assert_clean(out)
    with Image.open(out) as im:
        assert im.info["icc_profile"] == SRGB_ICC
        assert not im.getexif()
    assert sha256(src) == before


def test_png_with_everything_is_cleaned(tmp_path: Path) -> None:
    src = png_with_everything(tmp_path / "in.png")
    loaded = media.load_image(src, max_pixels=MAX)
    assert {"exif", "gps", "xmp", "png-text", "mwg-face-regions"} <= set(loaded.metadata_found)
    out = tmp_path / "out.png"
    media.save_image(out, loaded.rgb, loaded)
    assert_clean(out)
    with Image.open(out) as im:
        assert im.info["icc_profile"] == SRGB_ICC


@pytest.mark.parametrize(("fmt", "suffix"), [("WEBP", ".webp"), ("TIFF", ".tif")])
def test_webp_and_tiff_metadata_is_cleaned(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = tmp_path / f"in{suffix}"
    exif = Image.Exif()
    exif[0x010F] = "SchoolCam"
    exif[0x013B] = "Marie Curie"  # Artist
    extra: dict[str, object] = {"exif": exif.tobytes(), "xmp": XMP}
    if fmt == "TIFF":  # Pillow writes TIFF metadata as tags of the image itself
        tags = TiffImagePlugin.ImageFileDirectory_v2()
        tags[700], tags[315], tags[270] = XMP, "Marie Curie", "Pierre Curie at the lab"
        extra = {"tiffinfo": tags}
    Image.fromarray(picture()).save(src, fmt, icc_profile=SRGB_ICC, **extra)
    loaded = media.load_image(src, max_pixels=MAX)
    assert {"exif", "xmp", "mwg-face-regions"} <= set(loaded.metadata_found)
    assert exiftool_findings(src)
    out = tmp_path / f"out{suffix}"
    media.save_image(out, loaded.rgb, loaded)
    assert_clean(out)
    with Image.open(out) as im:
        assert im.info["icc_profile"] == SRGB_ICC


def test_raw_scan_finds_what_pillow_misses(tmp_path: Path) -> None:
    base = jpeg_bytes(picture())
    eoi = base.rindex(b"\xff\xd9")
    late_comment = base[:eoi] + segment(0xFE, b"Pierre Curie") + base[eoi:]
    (tmp_path / "late.jpg").write_bytes(late_comment)
    assert media.scan_metadata(tmp_path / "late.jpg") == ["comment"]
    (tmp_path / "trail.jpg").write_bytes(base + b"private notes")
    assert media.scan_metadata(tmp_path / "trail.jpg") == ["trailer"]
    (tmp_path / "mpo.jpg").write_bytes(base + jpeg_bytes(picture(8, 8)))
    assert media.scan_metadata(tmp_path / "mpo.jpg") == ["thumbnail"]
    app = base[:2] + segment(0xEB, b"JP\0\0jumb C2PA") + base[2:]
    (tmp_path / "app.jpg").write_bytes(app)
    assert media.scan_metadata(tmp_path / "app.jpg") == ["vendor-data"]
    # All of them still load, and the output carries none of it.
    for name in ("late.jpg", "trail.jpg", "mpo.jpg", "app.jpg"):
        loaded = media.load_image(tmp_path / name, max_pixels=MAX)
        media.save_image(tmp_path / f"out-{name}", loaded.rgb, loaded)
        assert media.scan_metadata(tmp_path / f"out-{name}") == []


def test_png_unknown_chunk_and_clean_file(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(picture()).save(buf, "PNG")
    data = buf.getvalue()
    iend = data.rindex(b"IEND") - 4
    body = b"C2PA manifest"
    extra = (
        struct.pack(">I", len(body)) + b"caBX" + body + struct.pack(">I", zlib_crc(b"caBX" + body))
    )
    (tmp_path / "c.png").write_bytes(data[:iend] + extra + data[iend:])
    assert media.scan_metadata(tmp_path / "c.png") == ["vendor-data"]
    (tmp_path / "plain.png").write_bytes(data)
    assert media.scan_metadata(tmp_path / "plain.png") == []


# -- safety of the write ----------------------------------------------------------------------


def test_refuses_to_overwrite_the_input(tmp_path: Path) -> None:
    src = jpeg_with_everything(tmp_path / "in.jpg")
    before = sha256(src)
    loaded = media.load_image(src, max_pixels=MAX)
    (tmp_path / "link.jpg").symlink_to(src)
    os.link(src, tmp_path / "hard.jpg")
    (tmp_path / "sub").mkdir()
    for dst in (
        src,
        tmp_path / "sub" / ".." / "in.jpg",
        tmp_path / "link.jpg",
        tmp_path / "hard.jpg",
    ):
        with pytest.raises(MediaError, match="refusing to overwrite the input"):
            media.save_image(dst, loaded.rgb, loaded)
    assert sha256(src) == before


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(picture()).save(src)
    loaded = media.load_image(src, max_pixels=MAX)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "old.png").write_bytes(b"previous output")

    def broken_save(self: Image.Image, fp: io.BufferedWriter, *a: object, **k: object) -> None:
        fp.write(b"\x89PNG half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    for name in ("new.png", "old.png"):
        with pytest.raises(MediaError, match="No space left") as info:
            media.save_image(out_dir / name, loaded.rgb, loaded)
        assert name in str(info.value)
    assert sorted(p.name for p in out_dir.iterdir()) == ["old.png"]
    assert (out_dir / "old.png").read_bytes() == b"previous output"


def test_metadata_found_in_output_aborts_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(picture()).save(src)
    loaded = media.load_image(src, max_pixels=MAX)
    monkeypatch.setattr(media, "_scan_bytes", lambda data: ({"xmp"}, True))
    with pytest.raises(MediaError, match="would carry metadata"):
        media.save_image(tmp_path / "out" / "o.png", loaded.rgb, loaded)
    assert list((tmp_path / "out").iterdir()) == []


def test_bad_array_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(picture()).save(src)
    loaded = media.load_image(src, max_pixels=MAX)
    with pytest.raises(MediaError, match="uint8"):
        media.save_image(tmp_path / "o.png", loaded.rgb.astype(np.float32), loaded)


def test_mislabelled_file_is_written_as_its_name_says(tmp_path: Path) -> None:
    src = tmp_path / "photo.jpg"
    Image.fromarray(picture()).save(src, "PNG")  # PNG data, .jpg name
    loaded = media.load_image(src, max_pixels=MAX)
    assert loaded.format == "PNG"
    assert media.output_suffix(loaded) == ".png"
    assert media.output_suffix(src) == ".jpg"
    media.save_image(tmp_path / "o.jpg", loaded.rgb, loaded)
    with Image.open(tmp_path / "o.jpg") as im:
        assert im.format == "JPEG"


def test_suffix_helpers() -> None:
    assert inputs.is_image(Path("a/B.JPG")) and inputs.is_image("x.heic")
    assert not inputs.is_image("x.gif") and not inputs.is_image("._x.jpg")
    assert not inputs.is_image(".x.jpg.tmp-abc")
    assert media.output_suffix("HEIF", ".heic") == ".jpg"
    assert media.output_suffix("JPEG", ".JPEG") == ".JPEG"
    assert media.output_suffix("TIFF", ".tiff") == ".tiff"
    assert media.output_suffix(Path("x.Png")) == ".Png"
    assert media.output_suffix(Path("x.HEIF")) == ".jpg"
