"""Face detection: CenterFace (ONNX, shipped in this package) run at several scales and in tiles.

Large close-ups are found on a downscaled copy, small faces on full-resolution (or upscaled) tiles;
boxes from every pass are fused. Boxes leave this module in the input array's pixels.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from anonymiser.detect import box_iou, tiles
from anonymiser.models import resolve_model
from anonymiser.results import Box, Detection, Kind

log = logging.getLogger(__name__)

_INPUT = "input.1"
BOX_CALIBRATION = 1.1
EDGE_MIN_SCORE = 0.4
EDGE_PAD = 0.12  # mirrored border for the edge-face passes, as a share of the long side
NATIVE_THRESHOLD_DROP = 0.1  # score threshold offset for the native-resolution tiles of big photos
MIN_THRESHOLD = 0.1  # no pass runs below this (the ensemble runs CenterFace down to 0.15)
SMALL_IMAGE = 1400  # long side up to which an image is upscaled 2x and also run mirrored
ROTATED_SIZES = (640, 1280)  # long sides of the passes on the photo turned 90, 180 and 270 degrees
ROTATED_MIN_SCORE = 0.4  # their floor: at 0.3 they added 0.8 false positives per WIDER photo
VOTE_SCORE = 0.5  # faces this sure count in the orientation vote
VOTE_MIN, VOTE_RATIO = 2, 1.5  # a turn wins with >= 2 sure faces and >= 1.5x those upright
RESCORE_FLOOR = 0.05  # decoding floor of ``rescore``'s crops
_OUTPUTS = ["537", "538", "539", "540"]


def _load_session(threads: int, device: str = "cpu") -> object:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    from anonymiser.detect.device import check_session, providers

    wanted = providers(device)
    # The shipped graph is prepared (scripts/prepare_centerface.py): dynamic height and width,
    # weights foldable by onnxruntime.
    session = ort.InferenceSession(
        str(resolve_model("centerface")), sess_options=options, providers=wanted
    )
    check_session(session, wanted, "centerface")
    return session


@dataclass(frozen=True, slots=True)
class _Pass:
    """One detection pass: resize the image by ``scale``, then cut it into tiles of ``tile`` px."""

    scale: float
    tile: int  # 0 = whole image in one go
    flip: bool = False  # also run the mirrored image and average the two outputs


def plan_passes(
    width: int, height: int, sizes: Sequence[int], tile: int, mirror: bool = True
) -> list[_Pass]:
    """Scales so that faces from ~8 px up to the whole frame are inside CenterFace's range.

    ``sizes`` are target long sides; the finest pass runs at native resolution (upscaled 2x
    for small images, where WIDER-style tiny faces live) in tiles. Small images are cheap, so
    their passes also run mirrored when ``mirror`` is set (see ``_average_mirrored``).
    Any pass whose resized image is larger than ``1.25 * tile`` runs in tiles, so memory stays
    bounded (one 12 MP image in one go needs ~2.7 GB of activations, 1024 px tiles ~0.4 GB).
    Tiles overlap by ``tile // 6``: a face that large at one scale is whole in some tile, and a
    larger one is found whole by the next coarser pass.
    """
    long_side = max(width, height)
    small = long_side <= SMALL_IMAGE
    flip = small and mirror
    fine = 2.0 if small else 1.0
    passes: list[_Pass] = []
    for size in sorted(sizes):
        scale = size / long_side
        # A pass within 2x of the finest one adds little the finest does not find (checked
        # on the 12 MP mosaics of benchmarks/accuracy.py) and costs ~25% of the time.
        if scale < 0.95 and scale * 2 <= fine:
            passes.append(_Pass(scale, _tiling(size, tile), flip))
    if small:
        # Small photos also get a native-size pass besides the 2x one: on the 46 WIDER photos of
        # wider_val_b it found 16 more hard faces (1239 -> 1255 of 1442) for ~0.3 CPU s a photo.
        passes.append(_Pass(1.0, _tiling(long_side, tile), flip))
    passes.append(_Pass(fine, _tiling(long_side * fine, tile), flip))
    return passes


def _tiling(side: float, tile: int) -> int:
    """The tile size for a pass whose resized long side is ``side``; 0: one piece."""
    return tile if side > tile * 1.25 else 0


def _resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    """``rgb`` resized by ``scale`` (itself at 1.0), at least 32 px each way."""
    if scale == 1.0:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(32, round(width * scale)), max(32, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


class _Scaled:
    """``rgb`` at each scale asked for, resized once: the upright, turned and edge passes share
    their coarse scales (a 12 MP resize costs 0.06-0.09 CPU s; ten of them were made)."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb
        self._done: dict[float, np.ndarray] = {}

    def __call__(self, scale: float) -> np.ndarray:
        if scale not in self._done:
            self._done[scale] = _resized(self.rgb, scale)
        return self._done[scale]


def _tiles(width: int, height: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """The tiles of one pass: at most ``1.25 * tile`` px (``detect.tiles``); 0: one piece."""
    if tile <= 0:
        return [(0, 0, width, height)]
    return tiles(width, height, tile * 5 // 4, overlap)


def _decode(outputs: list[np.ndarray], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    heat, scale, offset, lms = outputs
    heat = heat[0, 0]
    rows, cols = np.nonzero(heat > threshold)
    if rows.size == 0:
        return np.empty((0, 5), np.float32), np.empty((0, 10), np.float32)
    h = np.exp(scale[0, 0, rows, cols]) * 4
    w = np.exp(scale[0, 1, rows, cols]) * 4
    cy = (rows + offset[0, 0, rows, cols] + 0.5) * 4
    cx = (cols + offset[0, 1, rows, cols] + 0.5) * 4
    x1, y1 = cx - w / 2, cy - h / 2
    boxes = np.stack([x1, y1, x1 + w, y1 + h, heat[rows, cols]], axis=1).astype(np.float32)
    marks = np.empty((rows.size, 10), np.float32)
    for j in range(5):
        marks[:, 2 * j] = lms[0, 2 * j + 1, rows, cols] * w + x1
        marks[:, 2 * j + 1] = lms[0, 2 * j, rows, cols] * h + y1
    return boxes, marks


def _average_mirrored(outputs: list[np.ndarray], mirrored: list[np.ndarray]) -> list[np.ndarray]:
    """Average CenterFace's maps for an image and its mirror image (flipped back).

    The whole padded blob is mirrored, so output cell ``c`` of the mirror is cell ``W-1-c`` of
    the original and only the x offset changes sign. A face scores alike both ways, noise does
    not: on WIDER this found one more hard face and 0.2 fewer false positives per image.
    Landmarks come from the unmirrored pass (left and right would need swapping).
    """
    heat, scale, offset, marks = outputs
    m_heat, m_scale, m_offset = (m[..., ::-1] for m in mirrored[:3])
    m_offset = m_offset * np.array([1, -1], np.float32).reshape(1, 2, 1, 1)
    return [(heat + m_heat) / 2, (scale + m_scale) / 2, (offset + m_offset) / 2, marks]


def _unrotate(xs: np.ndarray, ys: np.ndarray, k: int, w: int, h: int) -> tuple[np.ndarray, ...]:
    """Points of ``np.rot90(image, k)`` (``w`` x ``h``: the turned image) back in ``image``."""
    for _ in range(k % 4):
        xs, ys = h - ys, xs
        w, h = h, w
    return xs, ys


def _pass_threshold(p: _Pass, threshold: float) -> float:
    """Large photos get no upscaled pass, and their smallest faces score lower at native size:
    0.1 lower there finds 47/54 instead of 42/54 WIDER-hard faces in 12 MP mosaics."""
    if p.scale == 1.0 and p.tile:
        return max(MIN_THRESHOLD, threshold - NATIVE_THRESHOLD_DROP)
    return threshold


def _fused(found: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The boxes and landmarks of several passes, fused."""
    boxes = np.concatenate([np.empty((0, 5), np.float32), *(b for b, _ in found)])
    marks = np.concatenate([np.empty((0, 10), np.float32), *(m for _, m in found)])
    return fuse(boxes, marks)


def _count_faces(found: list[np.ndarray]) -> int:
    """How many distinct faces score at least ``VOTE_SCORE`` (boxes of several passes fused)."""
    boxes = np.concatenate([np.empty((0, 5), np.float32), *found])
    sure = boxes[boxes[:, 4] >= VOTE_SCORE]
    return len(fuse(sure, np.zeros((len(sure), 10), np.float32))[0])


def _nms(boxes: np.ndarray, iou: float) -> list[int]:
    if len(boxes) == 0:
        return []
    xywh = np.column_stack(
        [boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]]
    )
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), boxes[:, 4].tolist(), 0.0, iou)
    return [int(i) for i in np.array(keep).reshape(-1)]


def fuse(boxes: np.ndarray, marks: np.ndarray, iou: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Merge boxes of one face found by several passes or tiles: keep the best-scoring box.

    Also merges a box lying mostly inside a better one (a face cut at a tile edge). Keeping the
    best box beat a score-weighted mean on the WIDER dev set (hard recall 0.907 vs 0.889).
    """
    if len(boxes) == 0:
        return boxes, marks
    order = np.argsort(-boxes[:, 4])
    boxes, marks = boxes[order], marks[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    used = np.zeros(len(boxes), bool)
    keep = []
    for i in range(len(boxes)):
        if used[i]:
            continue
        iw = np.clip(
            np.minimum(boxes[i, 2], boxes[:, 2]) - np.maximum(boxes[i, 0], boxes[:, 0]), 0, None
        )
        ih = np.clip(
            np.minimum(boxes[i, 3], boxes[:, 3]) - np.maximum(boxes[i, 1], boxes[:, 1]), 0, None
        )
        inter = iw * ih
        overlap = inter / (areas[i] + areas - inter + 1e-9)
        inside = inter / (np.minimum(areas[i], areas) + 1e-9)
        used |= (overlap >= iou) | (inside >= 0.8)
        keep.append(i)
    return boxes[keep], marks[keep]


def _add_edge_faces(
    main: np.ndarray,
    marks: np.ndarray,
    edge: np.ndarray,
    width: int,
    height: int,
    floor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Add faces cut by the frame edge that the main passes did not find.

    An edge detection clipped to the image either adds a face (kept) or repeats one already
    found, or is the mirror image of a face near the edge (dropped: it overlaps once clipped).
    """
    if len(edge) == 0:
        return main, marks
    edge = edge.copy()
    edge[:, [0, 2]] = edge[:, [0, 2]].clip(0, width)
    edge[:, [1, 3]] = edge[:, [1, 3]].clip(0, height)
    return _add_new_faces(main, marks, *fuse(edge, np.zeros((len(edge), 10), np.float32)), floor)


def _add_new_faces(
    main: np.ndarray,
    marks: np.ndarray,
    new: np.ndarray,
    new_marks: np.ndarray,
    floor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``main`` plus the ``new`` boxes that do not overlap a ``main`` box scoring at least
    ``floor`` by 30% of their area (boxes under it may be dropped later: they block nothing)."""
    keep = []
    block = main.reshape(-1, 5)
    block = block[block[:, 4] >= floor]
    for i, b in enumerate(new):
        area = max(1e-9, float((b[2] - b[0]) * (b[3] - b[1])))
        if len(block):
            iw = np.clip(np.minimum(b[2], block[:, 2]) - np.maximum(b[0], block[:, 0]), 0, None)
            ih = np.clip(np.minimum(b[3], block[:, 3]) - np.maximum(b[1], block[:, 1]), 0, None)
            if float((iw * ih).max()) >= 0.3 * area:
                continue
        keep.append(i)
    return np.concatenate([main.reshape(-1, 5), new[keep]]), np.concatenate(
        [marks.reshape(-1, 10), new_marks[keep]]
    )


class CenterFaceDetector:
    """CenterFace at several scales and in overlapping tiles.

    ``mirror``: small images are also run mirrored (photos). ``rotated``: also look for faces
    turned 90/180/270 degrees (photos). ``device``: ``Settings.device`` (``detect/device.py``). Video frames (speed), reference photos and the check
    (its thresholds were measured on single upright passes) turn them off.
    """

    name = "centerface"

    def __init__(
        self,
        sizes: Sequence[int] = (640, 1280, 2560),
        tile: int = 1024,
        threads: int = 1,
        mirror: bool = True,
        rotated: bool = True,
        device: str = "cpu",
    ) -> None:
        self.sizes = tuple(sizes)
        self.tile = tile
        self.mirror = mirror
        self.rotated = rotated
        self.edge = True  # the edge-face passes (see ``_edge_faces``)
        self._session = _load_session(threads, device)

    def plain(self) -> CenterFaceDetector:
        """The same detector (and model session) without mirrored or turned passes."""
        twin = copy.copy(self)
        twin.mirror = twin.rotated = False
        return twin

    def _run(
        self, rgb: np.ndarray, threshold: float, flip: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        h, w = rgb.shape[:2]
        h32, w32 = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, h32, w32), np.float32)
        blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)  # pad, do not stretch
        outputs = self._session.run(_OUTPUTS, {_INPUT: blob})  # type: ignore[attr-defined]
        if flip:
            outputs = _average_mirrored(
                outputs,
                self._session.run(  # type: ignore[attr-defined]
                    _OUTPUTS, {_INPUT: np.ascontiguousarray(blob[..., ::-1])}
                ),
            )
        boxes, marks = _decode(outputs, threshold)
        keep = _nms(boxes, 0.3)
        return boxes[keep], marks[keep]

    def rescore(
        self, rgb: np.ndarray, boxes: np.ndarray, context: float = 3.0, size: float = 64.0
    ) -> np.ndarray:
        """A second look at unsure faces: per box ``[x1, y1, x2, y2]``, the best score CenterFace
        gives a face overlapping it (IoU >= 0.3) in a crop of ``context`` times the box's long
        side around it, resized so that the box's long side is ``size`` px (small, blurred and
        partly hidden faces score higher seen larger, clutter mostly does not). ~8 ms a box."""
        height, width = rgb.shape[:2]
        out = np.zeros(len(boxes), np.float32)
        for k, b in enumerate(np.asarray(boxes, np.float32).reshape(-1, 4)):
            side = max(float(b[2] - b[0]), float(b[3] - b[1]), 2.0)
            cx, cy, half = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, side * context / 2
            x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
            x2, y2 = int(min(width, cx + half)), int(min(height, cy + half))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            f = size / side
            crop = rgb[y1:y2, x1:x2]
            image = cv2.resize(
                crop,
                (max(8, round(crop.shape[1] * f)), max(8, round(crop.shape[0] * f))),
                interpolation=cv2.INTER_LINEAR if f > 1 else cv2.INTER_AREA,
            )
            found, _ = self._run(np.ascontiguousarray(image), RESCORE_FLOOR)
            if len(found) == 0:
                continue
            cand = np.array([[(b[0] - x1) * f, (b[1] - y1) * f, (b[2] - x1) * f, (b[3] - y1) * f]])
            near = box_iou(cand, found)[0] >= 0.3
            if near.any():
                out[k] = float(found[near, 4].max())
        return out

    def _edge_faces(
        self, rgb: np.ndarray, threshold: float, scaled: _Scaled | None = None
    ) -> np.ndarray:
        """Faces cut by the frame edge: their centre lies outside the image, where CenterFace
        cannot put it. Extra whole-image passes (long side up to 1280 px, and 2x for small
        images) on a copy with a mirrored border, which completes the face around the edge,
        find them; only detections reaching into the border are kept."""
        height, width = rgb.shape[:2]
        long_side = max(width, height)
        scales = {min(1.0, size / long_side) for size in self.sizes if size <= 1280}
        if long_side <= SMALL_IMAGE:
            scales.add(2.0)
        found = [np.empty((0, 5), np.float32)]
        for scale in sorted(scales):
            image = scaled(scale) if scaled else _resized(rgb, scale)
            pad = round(EDGE_PAD * max(image.shape[:2]))
            boxes, _ = self._run(
                cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT), threshold
            )
            boxes[:, :4] = (boxes[:, :4] - pad) / scale
            cut = (
                (boxes[:, 0] < 0)
                | (boxes[:, 1] < 0)
                | (boxes[:, 2] > width)
                | (boxes[:, 3] > height)
            )
            found.append(boxes[cut])
        return np.concatenate(found)

    def _pass(
        self,
        rgb: np.ndarray,
        p: _Pass,
        threshold: float,
        turn: int = 0,
        scaled: _Scaled | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One pass over ``rgb`` resized by ``p.scale`` (taken from ``scaled`` when given) and
        turned ``turn`` x 90 degrees anticlockwise; boxes and landmarks come back in ``rgb``'s
        pixels."""
        image = scaled(p.scale) if scaled else _resized(rgb, p.scale)
        if turn:
            image = np.ascontiguousarray(np.rot90(image, turn))
        ih, iw = image.shape[:2]
        found_boxes: list[np.ndarray] = [np.empty((0, 5), np.float32)]
        found_marks: list[np.ndarray] = [np.empty((0, 10), np.float32)]
        for x, y, tw, th in _tiles(iw, ih, p.tile, overlap=p.tile // 6):
            boxes, marks = self._run(image[y : y + th, x : x + tw], threshold, p.flip)
            if len(boxes) == 0:
                continue
            boxes[:, [0, 2]] += x
            boxes[:, [1, 3]] += y
            marks[:, 0::2] += x
            marks[:, 1::2] += y
            if turn:
                xs, ys = _unrotate(boxes[:, [0, 2]], boxes[:, [1, 3]], turn, iw, ih)
                boxes[:, 0], boxes[:, 2] = xs.min(axis=1), xs.max(axis=1)
                boxes[:, 1], boxes[:, 3] = ys.min(axis=1), ys.max(axis=1)
                marks[:, 0::2], marks[:, 1::2] = _unrotate(
                    marks[:, 0::2], marks[:, 1::2], turn, iw, ih
                )
            boxes[:, :4] /= p.scale
            found_boxes.append(boxes)
            found_marks.append(marks / p.scale)
        return np.concatenate(found_boxes), np.concatenate(found_marks)

    def _turned_faces(
        self,
        rgb: np.ndarray,
        passes: list[_Pass],
        upright: list[tuple[np.ndarray, np.ndarray]],
        threshold: float,
        scaled: _Scaled | None = None,
    ) -> tuple[dict[int, list[tuple[np.ndarray, np.ndarray]]], int]:
        """Faces of people lying down or upside down, and of photos stored sideways.

        CenterFace only knows upright faces (turned 90 degrees it found 36/43 dlib and 12/54
        WIDER faces). Coarse passes run on the photo turned 90, 180 and 270 degrees; when a
        turn finds more sure faces than upright (``upright``: the upright passes' results), the photo is
        taken to be stored that way round and also gets the finest pass turned. The vote
        compares like with like: sure faces of the passes at the scales both ran.
        Returns each turn's passes, and the turn that won the vote (0: upright).
        """
        height, width = rgb.shape[:2]
        long_side = max(width, height)
        small = long_side <= SMALL_IMAGE
        cap = 2.0 if small else 1.0
        scales = sorted({min(cap, size / long_side) for size in ROTATED_SIZES})
        coarse = [
            _Pass(s, _tiling(long_side * s, self.tile), small and self.mirror) for s in scales
        ]
        shared = {p.scale for p in passes} & set(scales)
        sure_upright = _count_faces(
            [b for p, (b, _) in zip(passes, upright, strict=True) if p.scale in shared]
        )
        found: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        sure = []
        for turn in (1, 2, 3):
            turned = [
                self._pass(rgb, p, max(threshold, ROTATED_MIN_SCORE), turn, scaled) for p in coarse
            ]
            found[turn] = turned
            sure.append(
                _count_faces(
                    [b for p, (b, _) in zip(coarse, turned, strict=True) if p.scale in shared]
                )
            )
        best = int(np.argmax(sure))
        log.debug("sure faces upright %d, turned 90/180/270 %s", sure_upright, sure)
        # Stored sideways or upside down: the best turn clearly beats upright (measured: the
        # right turn of a turned dev photo finds 2-31 sure faces; a wrong turn of an upright
        # one at most 6 against 31, or 1 against 0).
        if sure[best] < max(VOTE_MIN, VOTE_RATIO * sure_upright):
            return found, 0
        fine = passes[-1]
        found[best + 1].append(
            self._pass(rgb, fine, _pass_threshold(fine, threshold), best + 1, scaled)
        )
        return found, best + 1

    def _plan(self, width: int, height: int) -> list[_Pass]:
        """The upright passes for a ``width`` x ``height`` image (the last is the finest)."""
        return plan_passes(width, height, self.sizes, self.tile, self.mirror)

    @staticmethod
    def sure_score(width: int, height: int, threshold: float) -> float:
        """The lowest score a box of a ``width`` x ``height`` photo is reported at when run at
        ``threshold`` (the native tiles of large photos run lower: ``_pass_threshold``)."""
        if max(width, height) > SMALL_IMAGE:
            return max(MIN_THRESHOLD, threshold - NATIVE_THRESHOLD_DROP)
        return threshold

    def detect(
        self, rgb: np.ndarray, threshold: float = 0.3, sure: float | None = None
    ) -> list[Detection]:
        """Faces scoring at least ``threshold``. ``sure`` (the ensemble runs CenterFace low and
        drops unconfirmed boxes later): only boxes at ``sure_score(sure)`` or more stop a turned
        or edge pass from adding a face there."""
        height, width = rgb.shape[:2]
        floor = self.sure_score(width, height, sure) if sure is not None else 0.0
        passes = self._plan(width, height)
        scaled = _Scaled(rgb)  # this photo's resized copies, for this call only
        found = {0: [self._pass(rgb, p, _pass_threshold(p, threshold), 0, scaled) for p in passes]}
        winner = 0
        if self.rotated:
            turned, winner = self._turned_faces(rgb, passes, found[0], threshold, scaled)
            found.update(turned)
        # The photo's way up (upright unless a turn won the vote) gives the boxes; the other
        # turns only add faces it did not find (their boxes of its faces are worse: a turned
        # pass's box of an upright face once cost a consenting pupil his match).
        boxes, marks = _fused(found[winner])
        for turn, passes_found in found.items():
            if turn != winner:
                boxes, marks = _add_new_faces(boxes, marks, *_fused(passes_found), floor)
        # Real edge-cut faces score 0.46-0.92 in the mirrored passes; dark frame edges and hands
        # at the border score 0.2-0.33 there, so the edge passes keep a floor of their own.
        edge_thr = max(threshold, EDGE_MIN_SCORE)
        if self.edge:
            boxes, marks = _add_edge_faces(
                boxes, marks, self._edge_faces(rgb, edge_thr, scaled), width, height, floor
            )
        out = []
        for b, m in zip(boxes, marks, strict=True):
            # CenterFace boxes are ~10% tighter than WIDER's forehead-to-chin boxes.
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            hw, hh = (b[2] - b[0]) * BOX_CALIBRATION / 2, (b[3] - b[1]) * BOX_CALIBRATION / 2
            box = Box.from_xyxy(cx - hw, cy - hh, cx + hw, cy + hh).clipped(width, height)
            if box.w < 2 or box.h < 2:
                continue
            points = tuple((float(m[2 * j]), float(m[2 * j + 1])) for j in range(5))
            out.append(Detection(Kind.FACE, box, float(b[4]), self.name, landmarks=points))
        return out
