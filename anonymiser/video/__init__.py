"""Video anonymisation: detect faces on every frame, track them, decide per track, redact, re-encode.

Two passes over the file, so memory stays bounded whatever the length (only boxes are kept):

1. decode -> detect faces -> link them into tracks (``tracker.Tracker``) -> match identities on
   some frames of each track (``MATCH_EVERY``);
2. decide per track (video consent), then decode again, redact every frame's padded and
   interpolated track boxes, encode H.264 and copy the audio.

Default deny against identity switches (two faces cross, one leaves as another arrives): a
consented track is kept sharp only on the frames ``tracker.sharp_frames`` allows: where its box was
matched to the pupil on that very frame (with ``video_detect_every`` > 1 also between two such
frames of one clean chain of links); on every other frame its box is blurred like anyone else's.

Audio is kept (``Settings.strip_audio`` drops it) and is NOT checked for spoken names: the report
says so.
"""

from __future__ import annotations

import sys
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anonymiser.decide import decide_face
from anonymiser.errors import MediaError
from anonymiser.redact import redact
from anonymiser.results import (
    Action,
    Detection,
    FaceMatch,
    ImageResult,
    Kind,
    MatchStatus,
    Reason,
    Region,
    Status,
)
from anonymiser.video import codec
from anonymiser.video.tracker import (
    Track,
    Tracker,
    clear_votes,
    frame_boxes,
    identity_match,
    sharp_frames,
    track_identity,
)

if TYPE_CHECKING:
    from anonymiser.detect import FaceDetector
    from anonymiser.pipeline import Anonymiser
    from anonymiser.settings import Settings

# Frames a track is kept blurred before it first appears and after it is lost.
PAD_FRAMES = 5
# Tracks not seen for this many frames end; shorter gaps are interpolated.
MAX_GAP = 15
# Identities are matched every this many frames per track (face matching is slow: ~75 ms a face),
# at once after a link break that is not crowded (a face may have been handed over), and on every
# detection of a track whose last match named a pupil (it is kept sharp only where matched).
MATCH_EVERY = 5
MATCH_EVERY_MATCHED = 1
# Video frames: scales for CenterFace (long side, px) — cheaper than the photo default.
VIDEO_SIZES: tuple[int, ...] = (360, 720)
# Detection threshold for video frames (the photo default is higher): a face that flashes up
# unblurred for a few frames is the failure users notice most, and a blurred light costs little.
VIDEO_THRESHOLD = 0.2
VIDEO_TILE = 4096  # no tiling below 5K: one native pass is cheaper than overlapping tiles

AUDIO_KEPT = "kept (not checked for spoken names)"

Progress = Callable[[str, int, int], None]  # (stage, frames done, frames expected or 0)

_detectors: weakref.WeakKeyDictionary[Any, FaceDetector] = weakref.WeakKeyDictionary()


def video_detector(anon: Anonymiser) -> FaceDetector:
    """The detector for video frames: an injected one, else CenterFace tuned for video."""
    injected = anon.face_detector_injected
    if injected is not None:
        return injected
    if anon not in _detectors:
        from anonymiser.detect.faces import CenterFaceDetector

        _detectors[anon] = CenterFaceDetector(
            VIDEO_SIZES, VIDEO_TILE, anon.threads, mirror=False, rotated=False,
            device=anon.settings.device,
        )  # fmt: skip
    return _detectors[anon]


@dataclass(frozen=True, slots=True)
class TrackDecision:
    """One track's decision. ``action`` is KEPT when some frames are kept sharp: exactly the
    frames in ``sharp`` (frame -> pupil); the track is blurred on all its other frames."""

    track: Track
    action: Action
    reason: Reason
    pupil_id: str | None
    ambiguous: bool
    sharp: dict[int, str]

    def as_report(self) -> dict[str, Any]:
        return {
            "id": self.track.id,
            "first_frame": self.track.first_frame,
            "last_frame": self.track.last_frame,
            "pupil_id": self.pupil_id,
            "action": str(self.action),
            "reason": str(self.reason),
            "sharp_frames": _spans(self.sharp),
        }


def _spans(sharp: dict[int, str]) -> list[list[Any]]:
    """Sharp frames as [first, last, pupil] runs."""
    out: list[list[Any]] = []
    for f in sorted(sharp):
        if out and out[-1][1] == f - 1 and out[-1][2] == sharp[f]:
            out[-1][1] = f
        else:
            out.append([f, f, sharp[f]])
    return out


def process_video(
    anon: Anonymiser,
    src: str | Path,
    dst: str | Path,
    *,
    progress: Progress | None = None,
    detect_every: int | None = None,
) -> ImageResult:
    """Anonymise the video ``src`` into the MP4 ``dst`` (written atomically).

    Parameters
    ----------
    anon:
        Supplies settings, consent log, face detector and matcher.
    progress:
        Called as ``progress(stage, done, total)`` per frame; without it a tqdm bar is shown on
        stderr when stderr is a terminal and ``settings.quiet`` is off.
    detect_every:
        Run the detector on every n-th frame only; tracks are interpolated in between.
        Default ``settings.video_detect_every``.

    Raises
    ------
    MediaError
        The file is not a readable video, or the output cannot be written.
    """
    src, dst = Path(src), Path(dst)
    start = time.perf_counter()
    settings = anon.settings.replace(media="video")
    detect_every = detect_every or settings.video_detect_every
    container = codec.open_video(src)
    try:
        info = codec.probe(container, src)
        tracks, n_frames = _analyse(anon, container, src, info, settings, progress, detect_every)
    finally:
        container.close()
    decisions = [_decide(t, anon.consent, settings) for t in tracks]
    strip = settings.strip_audio
    _render(src, dst, info, decisions, n_frames, settings, strip, progress, detect_every)
    regions = tuple(
        Region(
            Kind.FACE,
            d.track.largest,
            d.track.best_score,
            d.action,
            d.reason,
            pupil_id=d.pupil_id,
            source="tracker",
        )
        for d in decisions
    )
    fps = float(info.fps)
    audio = "none" if info.audio is None else ("stripped" if strip else AUDIO_KEPT)
    extra = {
        "video": {
            "frames": n_frames,
            "fps": round(fps, 3),
            "duration": round(n_frames / fps, 3) if fps else info.duration,
            "rotation": info.rotation,
            "audio": audio,
            "detect_every": detect_every,
            "face_threshold": video_threshold(settings),
            "pad_frames": _pad(detect_every),
            "tracks": [d.as_report() for d in decisions],
        }
    }
    return ImageResult(
        str(src),
        str(dst),
        Status.OK,
        info.width,
        info.height,
        any(d.ambiguous for d in decisions),
        ("container-metadata",),
        regions,
        seconds=time.perf_counter() - start,
        extra=extra,
    )


def video_threshold(settings: Settings) -> float:
    return min(settings.face_threshold, VIDEO_THRESHOLD)


def _pad(detect_every: int) -> int:
    return max(PAD_FRAMES, detect_every + 2)


class _Bar:
    """Progress: the caller's callback, or tqdm on a terminal, or nothing."""

    def __init__(
        self, stage: str, total: int, name: str, callback: Progress | None, quiet: bool = False
    ) -> None:
        self.stage, self.total, self.callback, self.done = stage, total, callback, 0
        self.bar: Any = None
        if callback is None and not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total or None, desc=f"{stage} {name}", unit="frame", file=sys.stderr,
                leave=False, dynamic_ncols=True,
            )  # fmt: skip

    def step(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.stage, self.done, self.total)
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _analyse(
    anon: Anonymiser,
    container: Any,
    src: Path,
    info: codec.VideoInfo,
    settings: Settings,
    progress: Progress | None,
    detect_every: int,
) -> tuple[list[Track], int]:
    """Pass 1: detections linked into tracks, with match votes. Returns (tracks, frame count)."""
    detector = video_detector(anon)
    matcher = anon.face_matcher
    tracker = Tracker(max_gap=max(MAX_GAP, 3 * detect_every), step=detect_every)
    threshold = video_threshold(settings)
    last_matched: dict[int, int] = {}
    bar = _Bar("faces", info.frames, src.name, progress, settings.quiet)
    n = 0
    try:
        for i, rgb in enumerate(codec.frames(container, src, info.rotation)):
            n = i + 1
            if i % detect_every == 0:
                dets: list[Detection] = detector.detect(rgb, threshold)
                tracks = tracker.update(i, [d.box for d in dets], [d.score for d in dets])
                if matcher is not None and dets:
                    _vote(matcher, rgb, dets, tracks, i, last_matched)
            bar.step()
    finally:
        bar.close()
    if n == 0:
        raise MediaError(f"{src}: the video has no frames")
    return tracker.tracks, n


def _vote(
    matcher: Any,
    rgb: Any,
    dets: list[Detection],
    tracks: list[Track],
    frame: int,
    last_matched: dict[int, int],
) -> None:
    """Match the faces of tracks that are due (see ``MATCH_EVERY``); record their votes."""
    due = [
        k
        for k, t in enumerate(tracks)
        if (frame in t.breaks and frame not in t.crowded)
        or frame - last_matched.get(t.id, -MATCH_EVERY) >= _every(t)
    ]
    if not due:
        return
    matches: list[FaceMatch] = list(matcher.match(rgb, [dets[k] for k in due]))
    for k, match in zip(due, matches, strict=True):
        tracks[k].votes[frame] = match
        last_matched[tracks[k].id] = frame


def _every(track: Track) -> int:
    if track.votes and track.votes[max(track.votes)].status is MatchStatus.MATCHED:
        return MATCH_EVERY_MATCHED
    return MATCH_EVERY


def _decide(track: Track, consent: Any, settings: Settings) -> TrackDecision:
    """Sharp frames (``sharp_frames``) of pupils with video consent; the rest of the track blurred.
    The reason and the review flag come from the votes on clear frames (crowded ones show a face
    partly hidden)."""
    identity = track_identity(clear_votes(track))
    ambiguous = identity.status is MatchStatus.AMBIGUOUS  # also: two pupils on one track
    _, reason = decide_face(identity_match(identity), consent, settings)
    candidates = sharp_frames(track)
    allowed = {
        pupil
        for pupil in set(candidates.values())
        if decide_face(FaceMatch(MatchStatus.MATCHED, pupil), consent, settings)[0] is Action.KEPT
    }
    sharp = {f: p for f, p in candidates.items() if p in allowed}
    if sharp:
        pupil = Counter(sharp.values()).most_common(1)[0][0]
        return TrackDecision(track, Action.KEPT, Reason.CONSENT, pupil, ambiguous, sharp)
    if reason is Reason.CONSENT:  # matched overall, but no frame confirmed
        reason = Reason.NOT_IDENTIFIED
    matched = identity.status is MatchStatus.MATCHED
    return TrackDecision(
        track, Action.BLURRED, reason, identity.pupil_id if matched else None, ambiguous, {}
    )


def _render(
    src: Path,
    dst: Path,
    info: codec.VideoInfo,
    decisions: list[TrackDecision],
    n_frames: int,
    settings: Settings,
    strip_audio: bool,
    progress: Progress | None,
    detect_every: int,
) -> None:
    """Pass 2: decode again, redact each frame's track boxes (but a kept track's sharp frames),
    encode, copy audio."""
    sharp = {d.track.id: d.sharp for d in decisions}
    boxes = frame_boxes([d.track for d in decisions], _pad(detect_every), n_frames)
    av = codec._av()
    container = codec.open_video(src)
    writer: codec.SafeVideoWriter | None = None
    bar = _Bar("writing", n_frames, src.name, progress, settings.quiet)
    try:
        vstream = container.streams.video[0]
        astream = None if strip_audio or not container.streams.audio else container.streams.audio[0]
        writer = codec.SafeVideoWriter(dst, vstream, info.width, info.height, astream)
        streams = [vstream] + ([astream] if astream is not None else [])
        index = 0
        for packet in container.demux(*streams):
            if packet.stream.type == "audio":
                writer.audio_packet(packet)
                continue
            for frame in packet.decode():
                if index >= n_frames:
                    break
                rgb = codec.to_rgb(frame, info.rotation)
                regions = [
                    Region(Kind.FACE, box, 1.0, Action.BLURRED, Reason.NOT_IDENTIFIED)
                    for tid, box in boxes.get(index, [])
                    if index not in sharp[tid]
                ]
                writer.write(redact(rgb, regions, settings.method) if regions else rgb, frame.pts)
                index += 1
                bar.step()
        if index != n_frames:
            raise MediaError(f"{src}: decoded {index} frames on the second pass, not {n_frames}")
        writer.commit()
        writer = None
    except av.FFmpegError as err:
        raise MediaError(f"{src}: cannot re-encode the video: {codec._short(err)}") from None
    finally:
        bar.close()
        if writer is not None:
            writer.abort()
        container.close()


__all__ = ["AUDIO_KEPT", "TrackDecision", "process_video", "video_detector"]
