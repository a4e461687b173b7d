"""CenterFace on real photos: every annotated face is found, and redaction is irreversible."""

from __future__ import annotations

import numpy as np
import pytest

from anonymiser.redact import redact
from anonymiser.results import Action, Box, Kind, Reason, Region
from tests.conftest import DATA, load_rgb

pytestmark = pytest.mark.slow


def _covered(truth: Box, found: list[Box]) -> bool:
    cx, cy = truth.centre
    return any(b.iou(truth) >= 0.3 or (b.x <= cx <= b.x2 and b.y <= cy <= b.y2) for b in found)


def test_every_annotated_face_is_found(face_detector, face_boxes) -> None:
    for name, boxes in face_boxes.items():
        found = [d.box for d in face_detector.detect(load_rgb(DATA / "faces" / name), 0.3)]
        for box in boxes:
            assert _covered(Box(*box), found), f"{name}: face {box} missed"


def test_redacted_faces_are_not_recognisable(face_detector, face_boxes) -> None:
    from anonymiser.identify.faces import FaceEmbedder

    name = "2008_007676.jpg"
    rgb = load_rgb(DATA / "faces" / name)
    dets = face_detector.detect(rgb, 0.3)
    regions = [
        Region(Kind.FACE, d.box, d.score, Action.BLURRED, Reason.NOT_IDENTIFIED) for d in dets
    ]
    safe = redact(rgb, regions, "blur")
    # 1. The detector, even at a low threshold, finds no face where one was.
    again = [d.box for d in face_detector.detect(safe, 0.2)]
    for box in face_boxes[name]:
        assert not _covered(Box(*box), again), f"face {box} still detectable after blur"
    # 2. A face embedding of the blurred face is far from the original (dlib's same-person
    #    threshold is 0.6; matching here uses 0.45).
    embedder = FaceEmbedder()
    big = [d for d in dets if min(d.box.w, d.box.h) >= 40]
    assert big
    for det in big:
        before = embedder.embed(rgb, det)
        after = embedder.embed(safe, det)
        assert float(np.linalg.norm(before - after)) > 0.6


@pytest.mark.parametrize("frac", [0.3, 0.5, 0.7])
def test_faces_cut_by_the_frame_edge_are_found(face_detector, face_boxes, frac: float) -> None:
    """A face half out of the picture still identifies someone: the mirrored-border pass finds it."""
    rgb = load_rgb(DATA / "faces" / "2008_001322.jpg")
    for x, y, w, h in face_boxes["2008_001322.jpg"]:
        cut = int(x + w * frac)
        crop = np.ascontiguousarray(rgb[:, cut:])
        visible = Box(0, y, x + w - cut, h)
        found = face_detector.detect(crop, 0.3)
        assert any(d.box.intersection(visible) > 0.5 * visible.area for d in found), (x, y, frac)


def test_mirrored_average_is_symmetric(face_detector, face_boxes) -> None:
    """Averaging a pass with its mirror image gives the same faces, mirrored, for the mirrored
    photo: proof that the maps are flipped back and the x offset's sign is undone right."""
    rgb = load_rgb(DATA / "faces" / "2008_007676.jpg")
    rgb = np.ascontiguousarray(rgb[: rgb.shape[0] // 32 * 32, : rgb.shape[1] // 32 * 32])
    width = rgb.shape[1]
    boxes, _ = face_detector._run(rgb, 0.3, flip=True)
    mirrored, _ = face_detector._run(np.ascontiguousarray(rgb[:, ::-1]), 0.3, flip=True)
    assert len(boxes) == len(mirrored) >= len(face_boxes["2008_007676.jpg"])
    back = np.column_stack([width - mirrored[:, 2], mirrored[:, 1], width - mirrored[:, 0]])
    back = np.column_stack([back, mirrored[:, 3:5]])
    key = np.lexsort((boxes[:, 1], boxes[:, 0]))
    key_back = np.lexsort((back[:, 1], back[:, 0]))
    assert np.allclose(boxes[key], back[key_back], atol=0.05)


def test_mirroring_small_photos_loses_no_face(face_detector, face_boxes) -> None:
    from anonymiser.detect.faces import CenterFaceDetector

    plain = CenterFaceDetector(face_detector.sizes, face_detector.tile, mirror=False)
    assert face_detector.mirror
    for name, boxes in face_boxes.items():
        rgb = load_rgb(DATA / "faces" / name)
        with_mirror = [d.box for d in face_detector.detect(rgb, 0.3)]
        without = [d.box for d in plain.detect(rgb, 0.3)]
        for box in boxes:
            truth = Box(*box)
            assert _covered(truth, with_mirror) or not _covered(truth, without), (name, box)


@pytest.mark.parametrize("turn", [1, 2, 3])
def test_faces_turned_on_their_side_or_upside_down_are_found(face_boxes, turn: int) -> None:
    """People lying down or upside down, and photos stored sideways without an orientation
    tag: CenterFace only knows upright faces; the turned passes find these."""
    from anonymiser.detect.faces import CenterFaceDetector

    detector = CenterFaceDetector(threads=2)
    for name in ("2008_007676.jpg", "solvay-1927-small.jpg"):
        rgb = load_rgb(DATA / "faces" / name)
        height, width = rgb.shape[:2]
        found = [d.box for d in detector.detect(np.ascontiguousarray(np.rot90(rgb, turn)), 0.3)]
        for x, y, w, h in face_boxes[name]:
            for _ in range(turn):  # the truth box, turned with the photo
                x, y, w, h = y, width - x - w, h, w
                width, height = height, width
            assert _covered(Box(x, y, w, h), found), (name, turn * 90, (x, y, w, h))
            width, height = rgb.shape[1], rgb.shape[0]


def test_a_group_photo_stored_sideways_is_blurred_whole() -> None:
    """samples/solvay-1927.jpg turned on its side (a photo without its orientation tag): the
    orientation vote runs the fine pass turned; upright-only found 3 of the 29 faces."""
    from anonymiser.detect.faces import CenterFaceDetector

    detector = CenterFaceDetector(threads=2)
    rgb = load_rgb(DATA.parent.parent / "samples" / "solvay-1927.jpg")
    upright = [d.box for d in detector.detect(rgb, 0.3)]
    sideways = [d.box for d in detector.detect(np.ascontiguousarray(np.rot90(rgb, 1)), 0.3)]
    assert len(upright) >= 29
    for b in upright:  # each upright face, turned with the photo, is covered sideways
        turned = Box(b.y, rgb.shape[1] - b.x - b.w, b.h, b.w)
        assert _covered(turned, sideways), b


# Pierre Curie in profile (tests/data/exif/portrait.jpg, public domain; see tests/data/README.md):
# his nose tip, mouth and eye in the original's pixels.
PROFILE_POINTS = {"nose": (542, 195), "mouth": (563, 207), "eye": (557, 155)}


def _profile_variants() -> list[tuple[str, np.ndarray, float, int]]:
    """(name, image, scale, left crop) of the profile photo."""
    import cv2

    rgb = load_rgb(DATA / "exif" / "portrait.jpg")
    hidden = rgb.copy()
    hidden[130:172, 520:640] = 90  # eyes and brow hidden (a hand, a cap, another head)
    small = cv2.resize(rgb, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    canvas = np.full_like(rgb, 128)
    canvas[: small.shape[0], : small.shape[1]] = small  # face ~20 x 40 px in a larger photo
    return [
        ("as taken", rgb, 1.0, 0),
        ("at the frame edge", np.ascontiguousarray(rgb[:, 530:]), 1.0, 530),
        ("eyes hidden", hidden, 1.0, 0),
        ("small", canvas, 0.25, 0),
    ]


def test_a_profile_face_is_not_kept_sharp() -> None:
    """A sharp nose and mouth in the output is a missed face: every variant of a profile
    (cut by the frame edge, partly hidden, small) has them changed."""
    from anonymiser import Anonymiser, Settings

    anon = Anonymiser(Settings(text="off"), threads=2)
    for name, rgb, scale, left in _profile_variants():
        safe, _ = anon.process_array(rgb)
        for part, (x, y) in PROFILE_POINTS.items():
            cx, cy, r = int((x - left) * scale), int(y * scale), max(1, int(4 * scale))
            a = rgb[cy - r : cy + r + 1, max(0, cx - r) : cx + r + 1]
            b = safe[cy - r : cy + r + 1, max(0, cx - r) : cx + r + 1]
            changed = float(np.any(a != b, axis=2).mean())
            assert changed > 0.9, f"profile {name}: {part} left sharp ({changed:.0%} changed)"


def test_cuda_asked_for_on_a_cpu_machine_gives_the_cpu_outputs(face_detector) -> None:
    """``--device cuda`` where onnxruntime has no CUDA (as in CI): the same faces as the CPU."""
    import onnxruntime

    from anonymiser.detect.faces import CenterFaceDetector

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("a GPU is here: benchmarks/gpu.py compares the two")
    rgb = load_rgb(DATA / "faces" / "2008_007676.jpg")
    cpu = face_detector.detect(rgb, 0.3)
    s = face_detector
    other = CenterFaceDetector(s.sizes, s.tile, 1, device="cuda").detect(rgb, 0.3)
    assert [d.box for d in other] == [d.box for d in cpu]
    assert [d.score for d in other] == pytest.approx([d.score for d in cpu], abs=1e-4)


def test_second_look_scores_a_small_face_higher_than_background(face_detector, face_boxes) -> None:
    """``rescore`` (the ensemble's second look at unsure boxes): a face shrunk to ~12 px is still
    a face in an enlarged crop around it; a patch of background of the same size is not."""
    import cv2

    name = "2008_007676.jpg"
    rgb = load_rgb(DATA / "faces" / name)
    x, y, w, h = face_boxes[name][0]
    f = 12 / max(w, h)
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    face = np.array([[x * f, y * f, (x + w) * f, (y + h) * f]], np.float32)
    background = np.array([[1, 1, 13, 13]], np.float32)  # the top-left corner
    assert face_detector.rescore(small, face)[0] >= 0.4
    assert face_detector.rescore(small, background)[0] < 0.2
