"""Video decoding and encoding with PyAV: rotation applied, H.264 out, audio remuxed, no metadata.

Frames stream one at a time. The output is written to a temporary file next to ``dst`` and renamed
into place only when complete, so a crash never leaves a half-written video.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from anonymiser.errors import MediaError
from anonymiser.files import commit, temp_beside

# Audio codecs the MP4 muxer takes as they are; anything else is re-encoded to AAC.
MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac"})
CRF = 20
PRESET = "faster"


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the input says about itself (``width``/``height`` as displayed, rotation applied)."""

    width: int
    height: int
    fps: Fraction
    frames: int  # as the container states it; 0 when unknown
    duration: float  # seconds; 0.0 when unknown
    rotation: int  # degrees counter-clockwise applied to the decoded pixels
    audio: str | None  # the audio codec's name, or None


def _av() -> Any:
    import av

    return av


def open_video(path: Path) -> Any:
    """Open ``path`` for reading; ``MediaError`` when it is not a readable video."""
    av = _av()
    try:
        container = av.open(str(path), mode="r")
    except FileNotFoundError:
        raise MediaError(f"{path}: file not found") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as err:
        raise MediaError(f"{path}: not a readable video: {_short(err)}") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: no video stream")
    container.streams.video[0].thread_type = "AUTO"
    return container


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:200]


def probe(container: Any, path: Path) -> VideoInfo:
    """Read the stream parameters and the rotation of the first frame."""
    stream = container.streams.video[0]
    rotation = 0
    width, height = stream.codec_context.width, stream.codec_context.height
    try:
        for frame in container.decode(stream):
            rotation = _rotation(frame)
            width, height = frame.width, frame.height
            break
        else:
            raise MediaError(f"{path}: the video has no frames")
        container.seek(0)
    except _av().FFmpegError as err:
        raise MediaError(f"{path}: cannot decode the video: {_short(err)}") from None
    if rotation in (90, 270):
        width, height = height, width
    fps = stream.average_rate or stream.guessed_rate or Fraction(30)
    duration = 0.0
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    frames = int(stream.frames or 0)
    if not frames and duration:
        frames = round(duration * fps)
    audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    return VideoInfo(width, height, Fraction(fps), frames, duration, rotation, audio)


def _rotation(frame: Any) -> int:
    """The display matrix's counter-clockwise rotation, snapped to a multiple of 90."""
    try:
        angle = float(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        return 0
    return round(angle / 90.0) % 4 * 90


def to_rgb(frame: Any, rotation: int) -> np.ndarray:
    """A decoded frame as an RGB uint8 array, rotated as it is meant to be displayed."""
    rgb = frame.to_ndarray(format="rgb24")
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, rotation // 90))
    return rgb


def frames(container: Any, path: Path, rotation: int) -> Iterator[np.ndarray]:
    """Every frame of the first video stream, in display order, as RGB."""
    stream = container.streams.video[0]
    try:
        for frame in container.decode(stream):
            yield to_rgb(frame, rotation)
    except _av().FFmpegError as err:
        raise MediaError(f"{path}: cannot decode the video: {_short(err)}") from None


class SafeVideoWriter:
    """H.264 (libx264, yuv420p) MP4 in a temporary file; ``commit`` renames it into place.

    Only the streams are copied: no container or stream metadata (GPS/location, device, title,
    creation time) from the input reaches the output.
    """

    def __init__(
        self,
        dst: Path,
        in_video: Any,
        width: int,
        height: int,
        in_audio: Any = None,
        *,
        crf: int = CRF,
        preset: str = PRESET,
    ) -> None:
        av = _av()
        self.dst = dst
        self.tmp = temp_beside(dst, ".part.mp4")
        self.out = av.open(
            str(self.tmp), mode="w", format="mp4", options={"movflags": "+faststart"}
        )
        # yuv420p needs even sizes: pad by one edge pixel when odd.
        self.width, self.height = width + width % 2, height + height % 2
        rate = in_video.average_rate or in_video.guessed_rate or Fraction(30)
        self.video = self.out.add_stream("libx264", rate=rate)
        self.video.width, self.video.height = self.width, self.height
        self.video.pix_fmt = "yuv420p"
        # Frames keep the input's timestamps; the muxer may pick its own stream time base later.
        self.time_base = in_video.time_base or Fraction(1, 90000)
        self.video.time_base = self.time_base
        self.video.codec_context.time_base = self.time_base
        self.video.options = {"crf": str(crf), "preset": preset}
        self._last_pts: int | None = None
        self._index = 0
        self.audio: Any = None
        self.audio_remux = False
        if in_audio is not None:
            name = in_audio.codec_context.name
            if name in MP4_AUDIO:
                self.audio = self.out.add_stream_from_template(in_audio)
                self.audio_remux = True
            else:
                rate = in_audio.codec_context.sample_rate or 48000
                self.audio = self.out.add_stream("aac", rate=rate)
                channels = len(in_audio.codec_context.layout.channels)
                self.audio.layout = {1: "mono", 6: "5.1"}.get(channels, "stereo")
            self.audio.metadata.clear()
        self.video.metadata.clear()
        self.out.metadata.clear()

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        """Encode one RGB frame at ``pts`` (in the input stream's time base)."""
        av = _av()
        h, w = rgb.shape[:2]
        if (w, h) != (self.width, self.height):
            rgb = np.pad(rgb, ((0, self.height - h), (0, self.width - w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if pts is None:
            rate = self.video.codec_context.framerate or Fraction(30)
            pts = round(self._index / rate / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        self._index += 1
        frame.pts = pts
        frame.time_base = self.time_base
        for packet in self.video.encode(frame):
            self.out.mux(packet)

    def audio_packet(self, packet: Any) -> None:
        """Copy one audio packet (or decode it and encode it to AAC)."""
        if self.audio is None:
            return
        if self.audio_remux:
            if packet.dts is None:
                return
            packet.stream = self.audio
            self.out.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            for out in self.audio.encode(frame):
                self.out.mux(out)

    def commit(self) -> None:
        """Flush the encoders, close, and rename the file into place."""
        for packet in self.video.encode(None):
            self.out.mux(packet)
        if self.audio is not None and not self.audio_remux:
            for packet in self.audio.encode(None):
                self.out.mux(packet)
        self.out.close()
        commit(self.tmp, self.dst, 0o644)  # readable as photo outputs are

    def abort(self) -> None:
        """Drop the partial output."""
        with contextlib.suppress(Exception):
            self.out.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()
