"""Make small synthetic test videos: a face photo moved across a textured canvas, optional audio.

Used by tests/integration/test_video.py and benchmarks/video.py.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data" / "video"
FACE_PHOTO = DATA / "obama-240p.jpg"
SECOND_FACE_PHOTO = DATA.parent / "identities" / "biden.jpg"

# (frame index, frame count) -> top-left corner of the face, or None when off-screen.
PathFn = Callable[[int, int], tuple[int, int]]


def face_crop(size: int) -> np.ndarray:
    """The face from the test photo, as RGB, ``size`` px tall, with some hair and neck around it."""
    bgr = cv2.imread(str(FACE_PHOTO))
    if bgr is None:
        raise FileNotFoundError(FACE_PHOTO)
    h, w = bgr.shape[:2]
    # obama-240p.jpg (427x240): the face is at about x 192-251, y 16-98.
    crop = bgr[0 : int(h * 0.5), int(w * 0.40) : int(w * 0.64)]
    scale = size / crop.shape[0]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), size), cv2.INTER_AREA)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)


def second_face_crop(size: int) -> np.ndarray:
    """Another person's face (tests/data/identities/biden.jpg), as RGB, ``size`` px tall."""
    bgr = cv2.imread(str(SECOND_FACE_PHOTO))
    if bgr is None:
        raise FileNotFoundError(SECOND_FACE_PHOTO)
    # biden.jpg (480x1091): the face is at about x 205-362, y 68-294.
    crop = bgr[20:330, 160:410]
    scale = size / crop.shape[0]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), size), cv2.INTER_AREA)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)


Rect = tuple[int, int, int, int]  # x, y, w, h


def make_crossing_pair(
    path: Path,
    *,
    frames: int = 52,
    meet: int = 32,
    size: tuple[int, int] = (480, 240),
    face_px: int = 80,
    speed: int = 6,
) -> tuple[Path, list[Rect], list[Rect]]:
    """Two different faces walk towards each other and pass through at frame ``meet`` (the second
    one in front). No audio. Returns the path and, per frame, the rectangles of the first face
    (``face_crop``) and of the second (``second_face_crop``)."""
    width, height = size
    a, b = face_crop(face_px), second_face_crop(face_px)
    y = (height - face_px) // 2
    centre = width // 2
    rects_a = [
        (centre - a.shape[1] // 2 + speed * (i - meet), y, a.shape[1], face_px)
        for i in range(frames)
    ]
    rects_b = [
        (centre - b.shape[1] // 2 - speed * (i - meet), y, b.shape[1], face_px)
        for i in range(frames)
    ]
    bg = background(width, height, seed=3)
    out = av.open(str(path), mode="w", format="mp4")
    video = out.add_stream("libx264", rate=24)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"crf": "18", "preset": "ultrafast"}
    for i in range(frames):
        rgb = bg.copy()
        paste(rgb, a, rects_a[i][0], y)
        paste(rgb, b, rects_b[i][0], y)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = i
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)
    out.close()
    return path, rects_a, rects_b


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth coloured texture (so the encoder has something to do, but no faces)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(
        40, 200, size=(max(2, height // 40), max(2, width // 40), 3), dtype=np.uint8
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def paste(canvas: np.ndarray, crop: np.ndarray, x: int, y: int) -> None:
    """Paste ``crop`` with its top-left at (x, y), clipped at the canvas edges."""
    H, W = canvas.shape[:2]
    h, w = crop.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 >= x2 or y1 >= y2:
        return
    canvas[y1:y2, x1:x2] = crop[y1 - y : y2 - y, x1 - x : x2 - x]


def crossing_path(width: int, face_w: int, y: int) -> PathFn:
    """Left to right, off the right edge, then back from the right to the left."""

    def at(i: int, n: int) -> tuple[int, int]:
        half = n / 2
        t = i / half if i < half else (n - i) / half  # 0 -> 1 -> 0
        span = width + 2 * face_w  # from fully off-left to fully off-right and beyond
        return round(-face_w * 0.5 + t * span), y

    return at


def make_video(
    path: Path,
    *,
    frames: int = 48,
    size: tuple[int, int] = (320, 240),
    fps: Fraction = Fraction(24),
    face_px: int = 90,
    path_fn: PathFn | None = None,
    audio: bool = True,
    metadata: dict[str, str] | None = None,
    store_rotated: int = 0,
) -> Path:
    """Write an H.264 MP4 with one moving face (and a 440 Hz AAC tone when ``audio``).

    ``store_rotated=k`` stores each frame turned by ``np.rot90(rgb, k)`` (as a phone does before
    it tags the file with a display rotation).
    """
    width, height = size
    crop = face_crop(face_px)
    bg = background(width, height)
    if path_fn is None:
        path_fn = crossing_path(width, crop.shape[1], (height - face_px) // 2)
    out = av.open(str(path), mode="w", format="mp4")
    if metadata:
        out.metadata.update(metadata)
    video = out.add_stream("libx264", rate=fps)
    stored_w, stored_h = (height, width) if store_rotated % 2 else (width, height)
    video.width, video.height, video.pix_fmt = stored_w, stored_h, "yuv420p"
    video.options = {"crf": "18", "preset": "ultrafast"}
    sound = None
    if audio:
        sound = out.add_stream("aac", rate=44100)
        sound.layout = "mono"
    samples = 0
    for i in range(frames):
        rgb = bg.copy()
        x, y = path_fn(i, frames)
        paste(rgb, crop, x, y)
        if store_rotated:
            rgb = np.ascontiguousarray(np.rot90(rgb, store_rotated))
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = i
        frame.time_base = 1 / fps
        for packet in video.encode(frame):
            out.mux(packet)
        if sound is not None:
            # Keep the audio up to the end of this video frame.
            until = round((i + 1) / fps * 44100)
            while samples < until:
                n = 1024
                t = (samples + np.arange(n)) / 44100
                tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
                af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                af.sample_rate = 44100
                af.pts = samples
                af.time_base = Fraction(1, 44100)
                for packet in sound.encode(af):
                    out.mux(packet)
                samples += n
    for packet in video.encode(None):
        out.mux(packet)
    if sound is not None:
        for packet in sound.encode(None):
            out.mux(packet)
    out.close()
    return path


def trim(src: Path, dst: Path, seconds: float) -> Path:
    """Copy the first ``seconds`` of ``src`` (all streams, no re-encoding; the source must start
    with a key frame and have no B-frames for the cut to be clean)."""
    inp = av.open(str(src))
    out = av.open(str(dst), mode="w", format="mp4")
    streams = {
        s.index: out.add_stream_from_template(s)
        for s in inp.streams
        if s.type in ("video", "audio")
    }
    for packet in inp.demux(*[s for s in inp.streams if s.index in streams]):
        if packet.dts is None or packet.pts is None:
            continue
        if float(packet.pts * packet.time_base) >= seconds:
            continue
        packet.stream = streams[packet.stream.index]
        out.mux(packet)
    out.close()
    inp.close()
    return dst


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of a (small) video as displayed: RGB, rotation applied."""
    from anonymiser.video import codec

    container = codec.open_video(path)
    try:
        info = codec.probe(container, path)
        return list(codec.frames(container, path, info.rotation))
    finally:
        container.close()


def stream_facts(path: Path) -> dict[str, object]:
    """Frame count (decoded), rate, duration and audio codec of a video, read independently."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        return {
            "frames": n,
            "fps": float(v.average_rate or 0),
            "duration": n / float(v.average_rate) if v.average_rate else 0.0,
            "audio": c.streams.audio[0].codec_context.name if c.streams.audio else None,
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "metadata": dict(c.metadata),
        }


def _detail(patch: np.ndarray) -> float:
    """Mean absolute step between neighbouring grey pixels: what a blur takes away."""
    if patch.shape[0] < 2 or patch.shape[1] < 2:
        return 0.0
    grey = patch.mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def unblurred_faces(
    source: Path,
    output: Path,
    detector: object,
    threshold: float = 0.2,
    kept: dict[int, list[tuple[int, int, int, int]]] | None = None,
    min_change: float = 10.0,
) -> tuple[int, int, list[tuple[int, list[int], float, float]]]:
    """Independent per-frame check of an anonymised video.

    Runs ``detector`` at a low ``threshold`` on every output frame. A detection is an
    *unblurred face* when the output pixels inside it are still the input's (mean absolute
    difference below ``min_change`` grey levels: only re-encoding noise) and keep at least half of
    the input's detail (a blurred dark face can differ by less than ``min_change``), unless it
    overlaps a box in ``kept`` (frame -> boxes of tracks deliberately kept). Returns (frames checked, detections,
    misses as (frame, box, score, change)).
    """
    from anonymiser.video import codec

    kept = kept or {}
    misses: list[tuple[int, list[int], float, float]] = []
    found = 0
    ci, co = codec.open_video(source), codec.open_video(output)
    try:
        ri = codec.probe(ci, source).rotation
        ro = codec.probe(co, output).rotation
        n = 0
        for n, (a, b) in enumerate(
            zip(codec.frames(ci, source, ri), codec.frames(co, output, ro), strict=False), 1
        ):
            for det in detector.detect(b, threshold):  # type: ignore[attr-defined]
                box = det.box
                if any(
                    box.intersection(type(box)(*k)) > 0.3 * box.area for k in kept.get(n - 1, [])
                ):
                    continue
                found += 1
                pa = a[box.y : box.y2, box.x : box.x2].astype(np.float32)
                pb = b[box.y : box.y2, box.x : box.x2].astype(np.float32)
                change = float(np.abs(pa - pb).mean()) if pa.size else 0.0
                if change < min_change and _detail(pb) >= 0.5 * _detail(pa):
                    misses.append((n - 1, box.as_list(), round(det.score, 3), round(change, 1)))
    finally:
        ci.close()
        co.close()
    return n, found, misses
