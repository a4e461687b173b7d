"""Still images in and out: careful loading and sanitised, atomic saving.

``load_image`` decodes one file completely (a truncated or corrupt file is an error, never a
half image), applies the EXIF orientation to the pixels and returns RGB (+ alpha) as numpy
arrays, together with the ICC profile and the kinds of identifying metadata the file carried.

``save_image`` writes a new file from a fresh array: no EXIF, GPS, XMP (face regions), IPTC,
maker notes, thumbnails, comments or PNG text, only the ICC profile. It writes to a temporary
file beside the target and renames it into place, and it never writes onto the input.

``scan_metadata`` is an independent check of a file (raw JPEG/PNG/WebP/TIFF structure plus
Pillow) used to verify outputs.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from anonymiser.errors import MediaError, UnsupportedMediaError
from anonymiser.files import commit, temp_beside

__all__ = [
    "METADATA_KINDS",
    "LoadedImage",
    "load_image",
    "output_format",
    "output_suffix",
    "save_image",
    "scan_metadata",
]

# Kinds of metadata, in report order. "trailer" is data after the end of the image and
# "vendor-data" any unknown JPEG APPn / PNG / WebP chunk: neither is ever written by us.
METADATA_KINDS: tuple[str, ...] = (
    "exif",
    "gps",
    "xmp",
    "iptc",
    "makernote",
    "thumbnail",
    "comment",
    "png-text",
    "mwg-face-regions",
    "vendor-data",
    "trailer",
)

# Formats we decode (JPEG includes MPO). GIF is opened only to give animated GIFs a clear error.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "HEIF", "GIF")
_SUPPORTED = frozenset({"JPEG", "PNG", "WEBP", "TIFF", "BMP", "HEIF"})
# Input format -> output format (we cannot write HEIF: it becomes JPEG).
_WRITE_AS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "TIFF": "TIFF", "BMP": "BMP"}
_WRITE_AS["HEIF"] = "JPEG"
_SUFFIXES = {
    "JPEG": (".jpg", ".jpeg"),
    "PNG": (".png",),
    "WEBP": (".webp",),
    "TIFF": (".tif", ".tiff"),
    "BMP": (".bmp",),
}
_FORMAT_OF_SUFFIX = {s: fmt for fmt, sfx in _SUFFIXES.items() for s in sfx}
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
_ICC_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})

# EXIF orientation -> Pillow transpose (1 and invalid values such as 0: nothing to do).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_heif_ready: bool | None = None


@dataclass(frozen=True, slots=True, eq=False)
class LoadedImage:
    """A decoded image, orientation applied.

    ``rgb`` is (H, W, 3) uint8, C-contiguous and writable; ``alpha`` is (H, W) uint8 or None.
    ``format`` is Pillow's format name of the input ("JPEG", "PNG", "WEBP", "TIFF", "BMP",
    "HEIF"). ``icc_profile`` is an RGB profile to keep, or None. ``metadata_found`` lists the
    identifying metadata kinds the input carried (see ``METADATA_KINDS``).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    format: str
    icc_profile: bytes | None
    metadata_found: tuple[str, ...]
    source: Path
    orientation: int = 1  # the EXIF orientation that was applied
    mode: str = "RGB"  # Pillow mode of the input

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def output_format(path: str | Path, like: LoadedImage) -> str:
    """The format ``save_image`` writes: the one the output name asks for, if we can write
    it, else the input's format (HEIF becomes JPEG)."""
    by_name = _FORMAT_OF_SUFFIX.get(Path(path).suffix.lower())
    if by_name is not None:
        return by_name
    return _WRITE_AS.get(like.format, "JPEG")


def output_suffix(item: LoadedImage | str | Path, original_suffix: str | None = None) -> str:
    """The suffix an output file should have.

    ``item`` is a loaded image, a Pillow format name ("HEIF") or the input path. The original
    suffix is kept when it fits the output format; HEIC/HEIF (which we write as JPEG) and
    mislabelled files get the canonical suffix of what is written (".jpg", ".png", ...).
    """
    if isinstance(item, LoadedImage):
        fmt = item.format
        suffix = item.source.suffix if original_suffix is None else original_suffix
    elif isinstance(item, str) and item.upper() in _WRITE_AS:
        fmt = item.upper()
        suffix = original_suffix or ""
    else:
        suffix = Path(item).suffix if original_suffix is None else original_suffix
        fmt = _FORMAT_OF_SUFFIX.get(suffix.lower(), "HEIF")  # unknown or .heic -> JPEG
    out = _WRITE_AS.get(fmt, "JPEG")
    if suffix.lower() in _SUFFIXES[out]:
        return suffix
    return _SUFFIXES[out][0]


# -- loading --------------------------------------------------------------------------------


def load_image(path: str | Path, *, max_pixels: int) -> LoadedImage:
    """Decode ``path`` fully and apply its EXIF orientation.

    Parameters
    ----------
    path
        A JPEG, PNG, WebP, TIFF, BMP or HEIC/HEIF file (by content; the suffix is not trusted).
    max_pixels
        Decompression-bomb limit, checked on the header before any pixel is decoded.

    Returns
    -------
    LoadedImage

    Raises
    ------
    MediaError
        Missing, unreadable, empty, not an image, corrupt, truncated or too large.
    UnsupportedMediaError
        Animated or multi-frame images, and image formats we do not process.
    """
    path = Path(path)
    data = _read_input(path)
    _register_heif()
    with warnings.catch_warnings():
        # We check the size against our own limit below; Pillow's "corrupt EXIF" notes are
        # noise here (we never copy EXIF).
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
        except UnidentifiedImageError:
            if data[4:8] == b"ftyp" and not _heif_ready:
                raise UnsupportedMediaError(
                    f"{path}: HEIC/HEIF needs the pillow-heif package (pip install pillow-heif)"
                ) from None
            raise MediaError(f"{path}: not an image, or not an image format we support") from None
        except Image.DecompressionBombError as exc:
            raise MediaError(f"{path}: image too large (decompression-bomb limit): {exc}") from None
        except Exception as exc:
            raise MediaError(f"{path}: corrupt image: {_one_line(exc)}") from None
        with im:
            return _decode(path, data, im, max_pixels)


def _read_input(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MediaError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise MediaError(f"{path}: is a folder, not an image file") from None
    except PermissionError:
        raise MediaError(f"{path}: permission denied") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not data:
        raise MediaError(f"{path}: empty file (0 bytes)")
    return data


def _register_heif() -> None:
    global _heif_ready
    if _heif_ready is None:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_ready = True
        except ImportError:
            _heif_ready = False


def _decode(path: Path, data: bytes, im: Image.Image, max_pixels: int) -> LoadedImage:
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    width, height = im.size
    if width <= 0 or height <= 0:
        raise MediaError(f"{path}: corrupt image: size {width}x{height}")
    if width * height > max_pixels:
        raise MediaError(
            f"{path}: image too large ({width}x{height} = {width * height} pixels; "
            f"the limit is {max_pixels})"
        )
    try:
        frames = int(getattr(im, "n_frames", 1))
    except Exception as exc:
        raise MediaError(f"{path}: corrupt image: {_one_line(exc)}") from None
    # MPO (a JPEG with previews appended) is the one multi-frame file we accept: frame 0.
    if frames > 1 and im.format != "MPO":
        what = "animated" if getattr(im, "is_animated", False) else "multi-page"
        raise UnsupportedMediaError(f"{path}: {what} images are not supported ({frames} frames)")
    if fmt not in _SUPPORTED:
        raise UnsupportedMediaError(f"{path}: {fmt} images are not supported")
    found, complete = _scan_bytes(data)
    if complete is False:
        raise MediaError(f"{path}: truncated image file")
    try:
        im.load()
    except Exception as exc:
        msg = _one_line(exc)
        if "truncated" in msg.lower():
            raise MediaError(f"{path}: truncated image file") from None
        raise MediaError(f"{path}: corrupt image: {msg}") from None
    found |= _pillow_kinds(im)
    orientation = _orientation(im)
    icc = im.info.get("icc_profile") or None
    try:
        rgb_im, alpha_im, icc = _to_rgb(im, icc)
    except UnsupportedMediaError:
        raise
    except Exception as exc:
        raise UnsupportedMediaError(
            f"{path}: cannot convert {im.mode} pixels to RGB: {_one_line(exc)}"
        ) from None
    method = _TRANSPOSE.get(orientation)
    if method is not None:
        rgb_im = rgb_im.transpose(method)
        alpha_im = alpha_im.transpose(method) if alpha_im is not None else None
    rgb = np.array(rgb_im, dtype=np.uint8, order="C")
    alpha = np.array(alpha_im, dtype=np.uint8, order="C") if alpha_im is not None else None
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        format=fmt,
        icc_profile=icc,
        metadata_found=_ordered(found),
        source=path,
        orientation=orientation,
        mode=im.mode,
    )


def _orientation(im: Image.Image) -> int:
    """EXIF orientation 1..8; anything unreadable or invalid (e.g. 0) counts as 1."""
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1
    return value if value in _TRANSPOSE else 1


def _to_rgb(
    im: Image.Image, icc: bytes | None
) -> tuple[Image.Image, Image.Image | None, bytes | None]:
    """Convert any mode to 8-bit RGB (+ alpha); returns the ICC profile still valid for it."""
    mode = im.mode
    if mode == "CMYK":
        return _cmyk_to_rgb(im, icc), None, None
    if mode.startswith("I") or mode == "F":
        return _wide_to_l(im).convert("RGB"), None, None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB", "1") and im.has_transparency_data
    )
    if has_alpha:
        if mode == "La":
            im = im.convert("LA")
        rgba = im.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A"), _rgb_icc(icc)
    if mode != "RGB":
        im = im.convert("RGB")
    return im, None, _rgb_icc(icc)


def _rgb_icc(icc: bytes | None) -> bytes | None:
    """Keep a profile only if it describes RGB data (a grey profile on RGB output is wrong)."""
    if icc and len(icc) >= 20 and icc[16:20] == b"RGB ":
        return icc
    return None


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            if out is not None:
                return out
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to the plain conversion
    return im.convert("RGB")


def _wide_to_l(im: Image.Image) -> Image.Image:
    """16/32-bit integer or float greyscale -> 8 bit, scaling the full range (not clipping)."""
    arr = np.asarray(im)
    if im.mode == "F":
        arr = arr.astype(np.float64)
        scale = 255.0 if np.nanmax(arr, initial=0.0) <= 1.0 else 1.0
        out = np.nan_to_num(arr * scale).clip(0, 255).round()
    else:
        out = (arr.astype(np.int64) * 255 + 32767) // 65535
        out = out.clip(0, 255)
    return Image.fromarray(np.ascontiguousarray(out.astype(np.uint8)))


# -- saving ---------------------------------------------------------------------------------


def save_image(
    path: str | Path,
    rgb: np.ndarray,
    like: LoadedImage,
    *,
    quality: int = 92,
    alpha: np.ndarray | None = None,
) -> list[str]:
    """Write ``rgb`` to ``path`` with no identifying metadata, atomically.

    The format is the input's (JPEG, PNG, WebP, TIFF, BMP), or the one the output name asks
    for; HEIC/HEIF inputs are written as JPEG (name them with ``output_suffix``). Only the ICC
    profile is kept; orientation is already in the pixels, so no orientation tag is written.
    ``alpha`` (default: ``like.alpha``) is re-attached for PNG, WebP and TIFF. The image is
    built from a fresh array, written to a hidden temporary file beside the target, checked
    with ``scan_metadata``'s parser, fsynced and renamed into place (``files.commit``).

    Returns
    -------
    list[str]
        The metadata kinds removed (those the input carried).

    Raises
    ------
    MediaError
        The target is the input file, the array is not (H, W, 3) uint8, or writing failed
        (then no output and no temporary file is left).
    """
    path = Path(path)
    _refuse_input(path, like.source)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise MediaError(f"{path}: expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    fmt = output_format(path, like)
    if alpha is None:
        alpha = like.alpha
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if alpha is not None and fmt in _ALPHA_FORMATS:
        if alpha.shape != rgb.shape[:2] or alpha.dtype != np.uint8:
            raise MediaError(f"{path}: alpha {alpha.shape} does not match the image {rgb.shape}")
        image.putalpha(Image.fromarray(np.ascontiguousarray(alpha)))
    options: dict[str, object] = {}
    if like.icc_profile and fmt in _ICC_FORMATS:
        options["icc_profile"] = like.icc_profile
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = int(quality)
    if fmt == "PNG":
        options["compress_level"] = 3  # about 3x faster than the default 6, ~10% larger
    if fmt == "TIFF":
        options["compression"] = "tiff_adobe_deflate"
    _atomic_write(path, image, fmt, options)
    return list(like.metadata_found)


def _refuse_input(path: Path, source: Path) -> None:
    try:
        same = path.resolve() == source.resolve() or (
            path.exists() and source.exists() and os.path.samefile(path, source)
        )
    except OSError:
        same = False
    if same:
        raise MediaError(f"{path}: refusing to overwrite the input file")
    if path.is_dir():
        raise MediaError(f"{path}: output path is a folder")


def _atomic_write(path: Path, image: Image.Image, fmt: str, options: dict[str, object]) -> None:
    try:
        tmp = temp_beside(path)
    except OSError as exc:
        raise MediaError(f"{path}: cannot create output: {exc.strerror or exc}") from None
    try:
        with open(tmp, "wb") as f:
            image.save(f, format=fmt, **options)
        left, _ = _scan_bytes(tmp.read_bytes())
        if left:
            raise MediaError(f"{path}: output would carry metadata ({', '.join(_ordered(left))})")
        commit(tmp, path, 0o644)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, MediaError) or not isinstance(exc, Exception):
            raise
        raise MediaError(f"{path}: cannot write {fmt} output: {_one_line(exc)}") from exc


def scan_metadata(path: str | Path) -> list[str]:
    """Identifying metadata kinds ``path`` still carries (empty for our outputs).

    Walks JPEG segments (also after the scan and after EOI), PNG chunks and WebP chunks
    itself, reads TIFF IFDs and EXIF blocks with its own parser, searches the whole file for
    EXIF/XMP/IPTC signatures, and adds what Pillow reports. ICC profiles do not count.
    """
    path = Path(path)
    data = _read_input(path)
    found, _ = _scan_bytes(data)
    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as im:
                found |= _pillow_kinds(im)
    except Exception:
        pass  # not something Pillow can open: the raw scan stands alone
    return list(_ordered(found))


def _ordered(kinds: set[str]) -> tuple[str, ...]:
    return tuple(k for k in METADATA_KINDS if k in kinds)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


_XMP_SIGNATURES = (b"<x:xmpmeta", b"<?xpacket begin", b"http://ns.adobe.com/xap/1.0/")
_FACE_REGION_SIGNATURES = (b"mwg-rs:", b"MPRI:", b"MP:RegionInfo", b"MPReg:")
_IPTC_SIGNATURES = (b"Photoshop 3.0\x00", b"8BIM\x04\x04")
# After a JPEG SOS: the next marker that is not stuffing (FF00), a restart or fill.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_PNG_SAFE = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"pHYs"}
    | {b"sBIT", b"bKGD", b"hIST", b"sPLT", b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL", b"fdAT"}
    | {b"tIME"}
)
_WEBP_SAFE = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
# Baseline TIFF tags that describe the camera, owner or history.
_TIFF_EXIF_TAGS = frozenset({269, 271, 272, 305, 306, 315, 316, 33432, 34665})


def _scan_bytes(data: bytes) -> tuple[set[str], bool | None]:
    """Metadata kinds in a file's bytes, and whether the container is complete
    (None when the format has no end marker we check)."""
    found: set[str] = set()
    complete: bool | None = None
    if data.startswith(b"\xff\xd8"):
        complete = _scan_jpeg(data, found)
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        complete = _scan_png(data, found)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        complete = _scan_webp(data, found)
    elif data[:4] in (b"II*\x00", b"MM\x00*"):
        found |= _tiff_kinds(data, container=True)
    # Signatures anywhere, whatever the container says.
    if any(sig in data for sig in _XMP_SIGNATURES):
        found.add("xmp")
    if "xmp" in found and any(sig in data for sig in _FACE_REGION_SIGNATURES):
        found.add("mwg-face-regions")
    if any(sig in data for sig in _IPTC_SIGNATURES):
        found.add("iptc")
    if b"Exif\x00\x00" in data:
        found.add("exif")
    return found, complete


def _scan_jpeg(data: bytes, found: set[str]) -> bool:
    pos, n = 2, len(data)
    while pos + 1 < n:
        if data[pos] != 0xFF:
            nxt = data.find(b"\xff", pos)
            if nxt < 0:
                break
            pos = nxt
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:  # EOI
            _jpeg_trailer(data[pos + 2 :], found)
            return True
        if pos + 4 > n:
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segment = data[pos + 4 : pos + 2 + length]
        _jpeg_segment(marker, segment, found)
        pos += 2 + length
        if marker == 0xDA:  # SOS: skip the entropy-coded data
            m = _JPEG_NEXT_MARKER.search(data, pos)
            pos = m.start() if m else n
    return False


def _jpeg_segment(marker: int, seg: bytes, found: set[str]) -> None:
    if marker == 0xFE:
        found.add("comment")
    elif marker == 0xE0:
        if seg.startswith(b"JFIF\x00"):
            if len(seg) >= 14 and seg[12] and seg[13]:
                found.add("thumbnail")
        elif seg.startswith(b"JFXX\x00"):
            found.add("thumbnail")
        else:
            found.add("vendor-data")
    elif marker == 0xE1:
        if seg.startswith(b"Exif\x00"):
            found |= _exif_kinds(seg[6:])
        elif seg.startswith(b"http://ns.adobe.com/") or b"<x:xmpmeta" in seg:
            found.add("xmp")
        else:
            found.add("vendor-data")
    elif marker == 0xE2:
        if seg.startswith((b"MPF\x00", b"FPXR\x00")):
            found.add("thumbnail")
        elif not seg.startswith(b"ICC_PROFILE\x00"):
            found.add("vendor-data")
    elif marker == 0xED:
        found.add("iptc")
        if b"8BIM\x04\x0c" in seg or b"8BIM\x04\x09" in seg:
            found.add("thumbnail")
    elif marker == 0xEE:
        if not seg.startswith(b"Adobe"):
            found.add("vendor-data")
    elif 0xE3 <= marker <= 0xEF:
        found.add("vendor-data")


def _jpeg_trailer(trailer: bytes, found: set[str]) -> None:
    trailer = trailer.strip(b"\x00 \r\n\t")
    if not trailer:
        return
    found.add("thumbnail" if b"\xff\xd8\xff" in trailer else "trailer")


def _scan_png(data: bytes, found: set[str]) -> bool:
    pos, n = 8, len(data)
    while pos + 8 <= n:
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if pos + 12 + length > n:
            return False
        pos += 12 + length
        if ctype == b"IEND":
            if data[pos:].strip(b"\x00"):
                found.add("trailer")
            return True
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            found.add(_png_text_kind(ctype, body))
        elif ctype == b"eXIf":
            found |= _exif_kinds(body)
        elif ctype not in _PNG_SAFE:
            found.add("vendor-data")
    return False


def _png_text_kind(ctype: bytes, body: bytes) -> str:
    key = body.split(b"\x00", 1)[0].lower()
    if key == b"xml:com.adobe.xmp":
        return "xmp"
    if key.startswith(b"raw profile type "):  # ImageMagick's way of storing profiles
        kind = key[len(b"raw profile type ") :]
        if kind in (b"exif", b"app1"):
            return "exif"
        if kind in (b"iptc", b"8bim"):
            return "iptc"
        if kind == b"xmp":
            return "xmp"
    if ctype == b"zTXt":
        try:  # compressed text may hide XMP
            text = zlib.decompressobj().decompress(body.split(b"\x00", 1)[1][1:], 1 << 20)
            if any(sig in text for sig in _XMP_SIGNATURES):
                return "xmp"
        except (zlib.error, IndexError):
            pass
    return "png-text"


def _scan_webp(data: bytes, found: set[str]) -> bool:
    riff_end = 8 + struct.unpack("<I", data[4:8])[0]
    pos, end = 12, min(riff_end, len(data))
    while pos + 8 <= end:
        fourcc, size = struct.unpack("<4sI", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
        if fourcc == b"EXIF":
            found |= _exif_kinds(body[6:] if body.startswith(b"Exif\x00\x00") else body)
        elif fourcc == b"XMP ":
            found.add("xmp")
        elif fourcc not in _WEBP_SAFE:
            found.add("vendor-data")
    if data[riff_end:].strip(b"\x00"):
        found.add("trailer")
    return len(data) >= riff_end


def _exif_kinds(tiff: bytes) -> set[str]:
    """Kinds inside an EXIF block (a TIFF structure)."""
    return {"exif"} | _tiff_kinds(tiff, container=False)


def _tiff_kinds(tiff: bytes, *, container: bool) -> set[str]:
    """Walk IFD0, the EXIF sub-IFD and IFD1 of a TIFF structure with bounds checks.

    ``container`` is True for a TIFF file (whose IFD0 describes the image itself)."""
    found: set[str] = set()
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return found
    order = "<" if tiff[:2] == b"II" else ">"
    ifd0, next_ifd = _read_ifd(tiff, struct.unpack(order + "I", tiff[4:8])[0], order)
    if 34853 in ifd0:
        found.add("gps")
    if 37500 in ifd0:
        found.add("makernote")
    if 34665 in ifd0:
        exif_ifd, _ = _read_ifd(tiff, ifd0[34665], order)
        if 37500 in exif_ifd:
            found.add("makernote")
    if container:
        if _TIFF_EXIF_TAGS & ifd0.keys():
            found.add("exif")
        if 700 in ifd0:
            found.add("xmp")
        if 33723 in ifd0 or 34377 in ifd0:
            found.add("iptc")
        if 270 in ifd0:
            found.add("comment")
        if 330 in ifd0 or next_ifd:
            found.add("thumbnail")  # sub-IFDs or further pages: previews
    elif next_ifd:
        ifd1, _ = _read_ifd(tiff, next_ifd, order)
        if ifd1:
            found.add("thumbnail")
    return found


def _read_ifd(tiff: bytes, offset: int, order: str) -> tuple[dict[int, int], int]:
    """Tags of one IFD (tag -> first 4-byte value field) and the next IFD offset."""
    if offset < 8 or offset + 2 > len(tiff):
        return {}, 0
    count = struct.unpack(order + "H", tiff[offset : offset + 2])[0]
    end = offset + 2 + 12 * count
    if count > 4096 or end + 4 > len(tiff):
        return {}, 0
    tags: dict[int, int] = {}
    for i in range(count):
        entry = tiff[offset + 2 + 12 * i : offset + 14 + 12 * i]
        tag, _type, _count, value = struct.unpack(order + "HHII", entry)
        tags[tag] = value
    next_ifd = struct.unpack(order + "I", tiff[end : end + 4])[0]
    return tags, (next_ifd if 8 <= next_ifd < len(tiff) and next_ifd != offset else 0)


def _pillow_kinds(im: Image.Image) -> set[str]:
    """What Pillow (and pillow-heif) report in ``info`` and the EXIF it parses.

    PNG text chunks are left to the raw scan (``im.text`` would decode the image)."""
    found: set[str] = set()
    info = im.info
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if xmp:
        found.add("xmp")
        raw = xmp.encode("utf-8", "replace") if isinstance(xmp, str) else bytes(xmp)
        if any(sig in raw for sig in _FACE_REGION_SIGNATURES):
            found.add("mwg-face-regions")
    if info.get("comment"):
        found.add("comment")
    if info.get("thumbnails"):
        found.add("thumbnail")
    exif_bytes = info.get("exif")
    try:
        exif = im.getexif()
        # Pillow fills getexif() from XMP orientation and, for TIFF, from the image's own
        # tags: count only a real EXIF block (TIFF files are judged by the raw scan).
        if exif_bytes or (im.format != "TIFF" and set(exif) - {0x0112}):
            found.add("exif")
        if 0x8825 in exif:
            found.add("gps")
        if 0x927C in exif.get_ifd(0x8769):
            found.add("makernote")
    except Exception:
        pass  # malformed EXIF: the raw scan still counts it
    return found
