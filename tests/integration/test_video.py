"""Video anonymisation end to end on small videos (real CenterFace where faces matter, fakes elsewhere)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from videogen import (
    DATA,
    Rect,
    crossing_path,
    decoded,
    make_crossing_pair,
    make_video,
    stream_facts,
    trim,
    unblurred_faces,
)

from anonymiser.pipeline import Anonymiser
from anonymiser.results import (
    Action,
    Box,
    Detection,
    FaceMatch,
    ImageResult,
    Kind,
    MatchStatus,
    Reason,
    Status,
)
from anonymiser.settings import Media, Purpose, Settings
from anonymiser.video import AUDIO_KEPT, process_video


@pytest.fixture(scope="module")
def checker() -> object:
    """The independent check: the photo detector (full multi-scale), run at a low threshold."""
    from anonymiser.detect.faces import CenterFaceDetector

    return CenterFaceDetector()


@pytest.fixture(scope="module")
def anon() -> Anonymiser:
    return Anonymiser(Settings(workers=1))


class FixedFaces:
    """A fake detector: the same boxes on every frame."""

    name = "fake"

    def __init__(self, *boxes: Box) -> None:
        self.boxes = boxes

    def detect(self, rgb: np.ndarray, threshold: float = 0.35) -> list[Detection]:
        return [Detection(Kind.FACE, b, 0.9, self.name) for b in self.boxes]


class AlwaysMatch:
    def __init__(self, status: MatchStatus, pupil: str | None = "P1") -> None:
        self.status, self.pupil = status, pupil

    def match(self, rgb: np.ndarray, faces: list[Detection]) -> list[FaceMatch]:
        return [FaceMatch(self.status, self.pupil) for _ in faces]


class ImagesOnlyConsent:
    """P1 consented to images but not to video (policy 7.5)."""

    def status(self, pupil_id: str, media: Media, purpose: Purpose, on_date: date) -> Reason:
        if pupil_id == "P1" and media is Media.IMAGES:
            return Reason.CONSENT
        return Reason.NO_CONSENT


class VideoConsent:
    def status(self, pupil_id: str, media: Media, purpose: Purpose, on_date: date) -> Reason:
        return Reason.CONSENT if pupil_id == "P1" else Reason.NO_CONSENT


def _same_timing(src: Path, dst: Path) -> None:
    a, b = stream_facts(src), stream_facts(dst)
    assert abs(int(a["frames"]) - int(b["frames"])) <= 1  # type: ignore[call-overload]
    assert b["fps"] == pytest.approx(a["fps"], rel=1e-3)
    assert b["duration"] == pytest.approx(a["duration"], abs=1.5 / float(a["fps"]))  # type: ignore[arg-type]


@pytest.mark.slow  # loads CenterFace
def test_face_crossing_out_of_frame_and_back(
    tmp_path: Path, anon: Anonymiser, checker: object
) -> None:
    src = make_video(tmp_path / "cross.mp4", frames=48, face_px=90)
    # Sanity: the checker does see the face in the input.
    frames = decoded(src)
    assert checker.detect(frames[4], 0.2)  # type: ignore[attr-defined]
    dst = tmp_path / "out" / "cross.mp4"
    result = anon.process_file(src, dst)
    assert result.status is Status.OK, result.error
    video = result.as_report()["video"]
    assert video["audio"] == AUDIO_KEPT
    assert video["tracks"] and all(t["action"] == "blurred" for t in video["tracks"])
    assert len(result.regions) == len(video["tracks"])
    _same_timing(src, dst)
    assert stream_facts(dst)["audio"] == "aac"
    n, _, misses = unblurred_faces(src, dst, checker, threshold=0.2)
    assert n == 48
    assert misses == []
    # Every frame where the face is mostly on screen is changed where the face is.
    out = decoded(dst)
    path = crossing_path(320, 76, (240 - 90) // 2)
    for i in range(48):
        x, y = path(i, 48)
        cx = x + 38
        if 20 <= cx <= 300:
            a = frames[i][y + 20 : y + 70, max(cx - 20, 0) : cx + 20].astype(np.float32)
            b = out[i][y + 20 : y + 70, max(cx - 20, 0) : cx + 20].astype(np.float32)
            assert np.abs(a - b).mean() > 10, f"frame {i} looks unchanged"
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left behind


@pytest.mark.slow  # loads CenterFace
def test_rotated_phone_video(tmp_path: Path, anon: Anonymiser, checker: object) -> None:
    src = DATA / "rotated_phone.mp4"  # stored 320x240 with a 90 degree display rotation
    dst = tmp_path / "rotated.mp4"
    result = anon.process_file(src, dst)
    assert result.status is Status.OK, result.error
    assert (result.width, result.height) == (240, 320)
    assert result.as_report()["video"]["rotation"] == 90
    facts = stream_facts(dst)
    assert (facts["width"], facts["height"]) == (240, 320)
    out = decoded(dst)
    assert out[0].shape == (320, 240, 3) and len(out) == 24
    assert result.as_report()["video"]["tracks"]
    _, _, misses = unblurred_faces(src, dst, checker, threshold=0.2)
    assert misses == []


@pytest.mark.slow  # loads CenterFace
def test_sample_clip_keeps_audio_and_timing(
    tmp_path: Path, anon: Anonymiser, checker: object
) -> None:
    src = trim(DATA / "short_hamilton_clip.mp4", tmp_path / "head.mp4", 1.2)
    dst = tmp_path / "head-out.mp4"
    result = anon.process_file(src, dst)
    assert result.status is Status.OK, result.error
    _same_timing(src, dst)
    assert stream_facts(dst)["audio"] == "aac"
    assert result.regions
    _, _, misses = unblurred_faces(src, dst, checker, threshold=0.2)
    assert misses == []
    # The check itself sees the faces left alone when nothing was done to them.
    _, found, untouched = unblurred_faces(src, src, checker, threshold=0.2)
    assert found and len(untouched) == found


def test_video_without_audio(tmp_path: Path) -> None:
    src = make_video(tmp_path / "silent.mp4", frames=12, audio=False)
    anon = Anonymiser(Settings(workers=1), face_detector=FixedFaces())
    result = anon.process_file(src, tmp_path / "silent-out.mp4")
    assert result.status is Status.OK, result.error
    assert result.as_report()["video"]["audio"] == "none"
    assert stream_facts(tmp_path / "silent-out.mp4")["audio"] is None
    assert result.as_report()["video"]["frames"] == 12


def test_strip_audio_and_metadata_removed(tmp_path: Path) -> None:
    src = make_video(
        tmp_path / "meta.mp4",
        frames=12,
        metadata={"title": "Year 3 trip", "location": "+51.5074-000.1278/", "comment": "Jo Bloggs"},
    )
    assert stream_facts(src)["metadata"].get("title") == "Year 3 trip"  # type: ignore[attr-defined]
    anon = Anonymiser(Settings(workers=1, strip_audio=True), face_detector=FixedFaces())
    dst = tmp_path / "meta-out.mp4"
    result = anon.process_file(src, dst)
    assert result.status is Status.OK, result.error
    assert result.as_report()["video"]["audio"] == "stripped"
    facts = stream_facts(dst)
    assert facts["audio"] is None
    meta = facts["metadata"]
    assert not {"title", "location", "comment", "creation_time"} & set(meta)  # type: ignore[arg-type]
    raw = dst.read_bytes()
    assert b"Year 3 trip" not in raw and b"Bloggs" not in raw and b"+51.5074" not in raw


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100, b"TRUNCATED"])
def test_corrupt_video_fails_clearly(tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "broken.mp4"
    if content == b"TRUNCATED":
        content = (DATA / "rotated_phone.mp4").read_bytes()[:3000]
    src.write_bytes(content)
    out = tmp_path / "out"
    anon = Anonymiser(Settings(workers=1), face_detector=FixedFaces())
    result = anon.process_file(src, out / "broken.mp4")
    assert result.status is Status.FAILED
    assert result.error and "broken.mp4" in result.error and "\n" not in result.error
    assert not out.exists() or not any(out.iterdir())


def test_consent_is_per_track_and_per_media(tmp_path: Path) -> None:
    src = make_video(tmp_path / "p1.mp4", frames=10, audio=False, path_fn=lambda i, n: (100, 60))
    face = Box(110, 70, 60, 80)

    def blur(consent: object, match: MatchStatus, name: str) -> ImageResult:
        anon = Anonymiser(
            Settings(workers=1),
            consent,  # type: ignore[arg-type]
            face_detector=FixedFaces(face),
            face_matcher=AlwaysMatch(match, None if match is MatchStatus.AMBIGUOUS else "P1"),
        )
        return anon.process_file(src, tmp_path / name)

    # Image consent only: the face is blurred in video.
    r = blur(ImagesOnlyConsent(), MatchStatus.MATCHED, "a.mp4")
    assert r.status is Status.OK, r.error
    assert [t["reason"] for t in r.as_report()["video"]["tracks"]] == ["no-consent"]
    # Video consent: kept, and the pixels are left alone.
    r = blur(VideoConsent(), MatchStatus.MATCHED, "b.mp4")
    track = r.as_report()["video"]["tracks"][0]
    assert (track["action"], track["pupil_id"]) == ("kept", "P1")
    assert r.regions[0].action is Action.KEPT
    a, b = decoded(src)[5], decoded(tmp_path / "b.mp4")[5]
    assert np.abs(a.astype(np.float32) - b).mean() < 4
    # Ambiguous: blurred throughout, flagged for review.
    r = blur(VideoConsent(), MatchStatus.AMBIGUOUS, "c.mp4")
    assert r.as_report()["video"]["tracks"][0]["reason"] == "ambiguous-match"
    assert r.needs_review


def test_progress_callback(tmp_path: Path) -> None:
    src = make_video(tmp_path / "p.mp4", frames=6, audio=False)
    seen: list[tuple[str, int, int]] = []
    anon = Anonymiser(Settings(workers=1), face_detector=FixedFaces())
    process_video(
        anon.video_engines(), src, tmp_path / "p-out.mp4", progress=lambda *a: seen.append(a)
    )
    assert [s for s in seen if s[0] == "faces"][-1][1] == 6
    assert [s for s in seen if s[0] == "writing"][-1][1:] == (6, 6)


def _other_container(path: Path, vcodec: str, acodec: str, fps: int = 25, frames: int = 25) -> Path:
    """A video in another container (coarse time base, audio that MP4 cannot take as it is)."""
    import av

    out = av.open(str(path), mode="w")
    v = out.add_stream(vcodec, rate=fps)
    v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
    a = out.add_stream(acodec, rate=48000)
    a.layout = "mono"
    for i in range(frames):
        rgb = np.full((120, 160, 3), (i * 9) % 255, np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = i
        for p in v.encode(frame):
            out.mux(p)
    samples = frames * 48000 // fps
    for start in range(0, samples, 1024):
        tone = np.zeros((1, 1024), np.int16)
        af = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        af.sample_rate, af.pts = 48000, start
        for p in a.encode(af):
            out.mux(p)
    for s in (v, a):
        for p in s.encode(None):
            out.mux(p)
    out.close()
    return path


def test_avi_with_pcm_audio_is_reencoded_to_aac(tmp_path: Path) -> None:
    src = _other_container(tmp_path / "old.avi", "mpeg4", "pcm_s16le")
    anon = Anonymiser(Settings(workers=1), face_detector=FixedFaces(Box(10, 10, 40, 40)))
    result = anon.process_file(src, tmp_path / "old.mp4")
    assert result.status is Status.OK, result.error
    facts = stream_facts(tmp_path / "old.mp4")
    assert facts["audio"] == "aac"
    assert (facts["frames"], facts["fps"]) == (25, 25.0)
    assert facts["duration"] == pytest.approx(1.0, abs=0.04)


class PairFaces:
    """A fake detector for ``make_crossing_pair``: the two faces' boxes on each frame, and only the
    one in front (the second) while they overlap, as a real detector sees them. It counts frames
    (pass 1 calls it once a frame), so the matcher below knows which face is where."""

    name = "pair"

    def __init__(self, rects_a: list[Rect], rects_b: list[Rect]) -> None:
        self.rects_a, self.rects_b, self.frame = rects_a, rects_b, -1

    @staticmethod
    def face(rect: Rect) -> Box:
        x, y, w, h = rect
        return Box(x + w * 15 // 100, y + h // 10, w * 70 // 100, h * 3 // 4)

    def detect(self, rgb: np.ndarray, threshold: float = 0.35) -> list[Detection]:
        self.frame += 1
        a, b = self.face(self.rects_a[self.frame]), self.face(self.rects_b[self.frame])
        boxes = [b] if a.intersection(b) > 0.3 * a.area else [a, b]
        return [Detection(Kind.FACE, box, 0.9, self.name) for box in boxes]


class Oracle:
    """A matcher that knows where each face is: P1 (consented) for the first face, UNKNOWN for
    the second (not enrolled). Counts the faces it was asked about."""

    def __init__(self, clock: PairFaces) -> None:
        self.clock, self.calls = clock, 0

    def match(self, rgb: np.ndarray, faces: list[Detection]) -> list[FaceMatch]:
        self.calls += len(faces)
        a = self.clock.face(self.clock.rects_a[self.clock.frame])
        out = []
        for det in faces:
            if det.box == a:
                out.append(FaceMatch(MatchStatus.MATCHED, "P1", 0.3))
            else:
                out.append(FaceMatch(MatchStatus.UNKNOWN, None, 0.7))
        return out


def _change(a: np.ndarray, b: np.ndarray, rect: Rect) -> float:
    """Mean absolute difference over the inner face part of ``rect`` (clipped to the frame)."""
    x, y, w, h = rect
    x1, x2 = max(x + w // 5, 0), min(x + w - w // 5, a.shape[1])
    y1, y2 = y + h // 6, y + h * 3 // 4
    pa, pb = a[y1:y2, x1:x2].astype(np.float32), b[y1:y2, x1:x2].astype(np.float32)
    return float(np.abs(pa - pb).mean())


def test_identity_switch_never_shows_the_other_face(tmp_path: Path) -> None:
    """Two real faces pass through each other and the greedy tracker hands the consented face's
    track to the other face. The face without consent must be blurred on every frame; the
    consented one is kept sharp where it is alone."""
    src, rects_a, rects_b = make_crossing_pair(tmp_path / "pair.mp4")
    detector = PairFaces(rects_a, rects_b)
    oracle = Oracle(detector)
    anon = Anonymiser(
        Settings(workers=1),
        VideoConsent(),  # type: ignore[arg-type]
        face_detector=detector,
        face_matcher=oracle,
    )
    dst = tmp_path / "pair-out.mp4"
    result = anon.process_file(src, dst)
    assert result.status is Status.OK, result.error
    tracks = result.as_report()["video"]["tracks"]
    assert len(tracks) == 2 and all(t["first_frame"] == 0 for t in tracks)  # so: swapped
    before, after = decoded(src), decoded(dst)
    assert len(after) == len(before) == 52
    not_blurred = [i for i in range(52) if _change(before[i], after[i], rects_b[i]) < 10]
    assert not_blurred == [], f"the face without consent is visible on frames {not_blurred}"
    alone = [i for i in range(52) if abs(rects_a[i][0] - rects_b[i][0]) >= 150]
    assert len(alone) >= 15
    blurred_alone = [i for i in alone if _change(before[i], after[i], rects_a[i]) > 4]
    assert blurred_alone == [], f"the consented face is blurred on frames {blurred_alone}"
    kept = [t for t in tracks if t["action"] == "kept"]
    assert kept and all(t["pupil_id"] == "P1" for t in kept)


class CountingFaces(FixedFaces):
    def __init__(self, *boxes: Box) -> None:
        super().__init__(*boxes)
        self.calls = 0

    def detect(self, rgb: np.ndarray, threshold: float = 0.35) -> list[Detection]:
        self.calls += 1
        return super().detect(rgb, threshold)


def test_detect_every_comes_from_settings(tmp_path: Path) -> None:
    from anonymiser.errors import SettingsError

    src = make_video(tmp_path / "e.mp4", frames=12, audio=False)
    detector = CountingFaces(Box(10, 10, 40, 40))
    anon = Anonymiser(Settings(workers=1, video_detect_every=3), face_detector=detector)
    assert anon.video_engines().face_detector is detector  # injected: video frames too
    result = anon.process_file(src, tmp_path / "e-out.mp4")
    assert result.status is Status.OK, result.error
    assert result.as_report()["video"]["detect_every"] == 3
    assert detector.calls == 4
    with pytest.raises(SettingsError, match="video_detect_every"):
        Settings(video_detect_every=0)


def test_quiet_hides_the_video_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from anonymiser.video import _Bar

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _Bar("faces", 10, "x.mp4", None, quiet=True).bar is None
    bar = _Bar("faces", 10, "x.mp4", None, quiet=False)
    assert bar.bar is not None
    bar.close()
