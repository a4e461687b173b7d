"""OCR text lines with RapidOCR (PP-OCRv6 det + rec, PP-OCR direction classifier, ONNX).

The model files are the ones shipped inside the ``rapidocr`` wheel, resolved and hash-checked by
``anonymiser.models``; RapidOCR is given their paths, so it never downloads anything.

Small text in large photos: one pass over the whole image (long side at most
``OcrSettings.full_side``) finds large text; when the image is bigger than that, native-resolution
windows find small text. The whole-image pass doubles as a text-presence pass: its detector's
probability map, at a threshold far below the one that makes a line (``OcrSettings.presence``
against 0.3), marks where any text may be, and only windows around those places are read at
native resolution (badges and certificates cover a few percent of a photo). Without a usable map
(or with ``presence=0``) overlapping tiles of ``OcrSettings.tile`` pixels cover the whole image.
Lines found twice (in the full pass and a window, or in two overlapping windows) are merged.
Rotated and perspective lines come back as 4-point polygons;
upside-down lines are turned by the direction classifier before recognition.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

import numpy as np

from anonymiser.detect import tiles
from anonymiser.errors import ModelError
from anonymiser.results import Box, Detection, Kind
from anonymiser.settings import OcrSettings, Settings

DUPLICATE_OVERLAP = 0.5  # intersection / smaller area above which two lines may be one
# Read again (from the native-resolution photo, with a margin, plain and contrast-stretched)
# lines the recogniser was less sure of than this, or whose text is less tall than REREAD_PX.
REREAD_SCORE = 0.9
REREAD_PX = 24
REREAD_ACROSS = 0.2  # margin across the line, in line heights
REREAD_ALONG = 0.3  # margin at each end of the line, in line heights (cut-off letters)
REREAD_GAIN = 0.02  # a re-read replaces the first reading when it scores this much better
# Leading words split off a line like "Name:", so they stay legible when the rest is a name.
LEAD_PHRASES = tuple(
    tuple(p.split())
    for p in (
        "well done|great work|good work|welcome back|welcome|congratulations to|congratulations|"
        "presented to|awarded to|given to|todays helpers|helpers|star of the week|"
        "star of the day|my name is|hello|hi|happy birthday|thank you|good luck|dear|by"
    ).split("|")
)


# Text presence (benchmarks/resolution_budget.py --text): native pixels are read where the
# whole-image pass's text probability reaches ``OcrSettings.presence``, in windows padded by the
# marked region's own height plus WINDOW_PAD px and at least WINDOW_MIN px a side, read unresized.
_DEFAULT = OcrSettings()
WINDOW_PAD = 32
WINDOW_MIN = 128
# The padding grows with the marked place's height up to WINDOW_GROW px: a place taller than
# that is a block of lines or large text, which the whole-image pass reads (30 photos larger
# than 2000 px: the same truth lines inside windows, 12 % fewer window pixels than uncapped).
WINDOW_GROW = 128
FINER_COVER = 0.8  # a whole-image line this covered by native lines is replaced by them
UNREAD_RUN = 0.5  # ... except its uncovered parts this many line heights long (a letter or more)


class RapidOcrDetector:
    """Text-line detector and recogniser (``TextDetector`` protocol).

    Parameters
    ----------
    settings:
        Run settings; ``settings.ocr`` (``OcrSettings``) holds the whole-image side (and the
        one for large photos), the tile size (0: no native-resolution passes), the overlap, the
        line score, the presence threshold (0: every native tile instead of the windows where
        the whole-image pass saw text) and the threads.

    Raises
    ------
    ModelError
        When rapidocr or one of its model files is missing or altered.
    """

    name = "rapidocr"

    def __init__(self, settings: Settings | None = None) -> None:
        ocr = settings.ocr if settings else OcrSettings()
        self.full_side = ocr.full_side
        self.large_side = ocr.large_side
        self.tile = ocr.tile
        self.overlap = ocr.overlap
        self.text_score = ocr.text_score
        self.presence = ocr.presence
        device = settings.device if settings else "cpu"
        self._engine = _load_engine(self.full_side, self.text_score, ocr.threads, device)
        self._maps = _ProbabilityTap(self._engine)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Text lines in an RGB ``uint8`` array, in that array's pixels."""
        bgr = _bgr(rgb)  # once for both steps (a 12 MP copy costs ~0.1 CPU s)
        return self._reread(bgr, self._detect_lines(bgr))

    def reread(self, rgb: np.ndarray, lines: list[Detection]) -> list[Detection]:
        """Read unsure or small lines again from the full-resolution photo.

        Each chosen line is cropped with a margin (letters the detector cut off come back) at
        native resolution (lines found by the downscaled whole-image pass were read from the
        downscaled photo), once plain and once contrast-stretched, turned upright by the
        direction classifier, and recognised. The best-scoring reading becomes the line's text;
        the others are kept in ``alternatives`` so that name matching sees every reading.
        The margin becomes part of the line's outline only when it gained letters.
        """
        return self._reread(_bgr(rgb), lines)

    def _reread(self, bgr: np.ndarray, lines: list[Detection]) -> list[Detection]:
        todo = [i for i, d in enumerate(lines) if _needs_reread(d)]
        if not todo:
            return lines
        height, width = bgr.shape[:2]
        from rapidocr.ch_ppocr_rec import TextRecInput
        from rapidocr.utils.process_img import get_rotate_crop_image

        crops, quads = [], []
        for i in todo:
            quad = _grown_quad(np.asarray(lines[i].polygon, np.float64), width, height)
            crop = get_rotate_crop_image(bgr, quad.astype(np.float32))
            crops += [crop, _stretched(crop)]
            quads.append(quad)
        upright = self._engine._load_cls_model()(crops).img_list
        found = self._engine._load_rec_model()(TextRecInput(img=list(upright)))
        out = list(lines)
        for n, i in enumerate(todo):
            old = lines[i]
            readings = [(old.score, old.text or "", False)] + [
                (float(found.scores[k]), str(found.txts[k]), True) for k in (2 * n, 2 * n + 1)
            ]
            readings = [r for r in readings if r[1].strip()]
            score, text, grown = max(readings, key=lambda r: r[0] - REREAD_GAIN * r[2])
            others = tuple(dict.fromkeys(t for sc, t, _ in readings if t != text and sc >= 0.5))
            polygon = old.polygon
            if grown and old.score < REREAD_SCORE and len(_plain(text)) > len(_plain(old.text)):
                polygon = tuple((float(x), float(y)) for x, y in quads[n])
            pts = np.asarray(polygon, np.float64)
            box = Box.from_xyxy(pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())
            out[i] = Detection(Kind.TEXT, box.clipped(width, height), score, old.source,
                               polygon=polygon, text=text, alternatives=others)  # fmt: skip
        return out

    def detect_lines(self, rgb: np.ndarray) -> list[Detection]:
        """Find and read the text lines (whole-image pass and native tiles), one reading each."""
        return self._detect_lines(_bgr(rgb))

    def _detect_lines(self, bgr: np.ndarray) -> list[Detection]:
        height, width = bgr.shape[:2]
        found: list[Detection] = []
        large = bool(self.tile) and max(height, width) > self.full_side
        # Whole image, downscaled by RapidOCR to ``full_side`` on the long side; a photo larger
        # than that to ``large_side``: its pass finds where text is and reads the large text,
        # while the native windows (up to ``tile`` px, never downscaled) read the small text.
        side = min(self.full_side, self.large_side) if large else self.full_side
        self._engine.max_side_len = side
        try:
            self._maps.last = None
            found += self._run(bgr, 0, 0, side)
            if large:
                windows = native_windows(
                    self._maps.last, width, height, self.tile, self.overlap, self.presence
                )
                self._engine.max_side_len = native = max(side, self.tile)
                fine: list[Detection] = []
                for x, y, w, h in windows:
                    crop = np.ascontiguousarray(bgr[y : y + h, x : x + w])
                    fine += self._run(crop, x, y, native, native=True)
                kept = []
                for d in found:
                    rest = _read_finer(d, fine, windows)
                    kept += [d] if rest is None else rest
                found = kept + fine
        finally:
            self._engine.max_side_len = self.full_side
        return _merge(found, width, height)

    def _run(
        self, bgr: np.ndarray, dx: int, dy: int, side: int, native: bool = False
    ) -> list[Detection]:
        """Read ``bgr`` (at ``dx, dy`` in the photo), downscaled to ``side`` if larger.
        ``native``: otherwise at its own size (RapidOCR would upscale a crop to 736 px on its
        short side)."""
        detector = self._engine._load_det_model()
        limits = detector.limit_type, detector.limit_side_len
        if native:
            detector.limit_type, detector.limit_side_len = "max", side
        try:
            result = self._engine(bgr)
        finally:
            detector.limit_type, detector.limit_side_len = limits
        boxes = getattr(result, "boxes", None)
        if boxes is None or not len(boxes):
            return []
        words = getattr(result, "word_results", None) or ()
        if len(words) != len(boxes):
            words = ((),) * len(boxes)  # rapidocr drops empty entries: do not guess
        out = []
        for quad, text, score, line_words in zip(
            boxes, result.txts, result.scores, words, strict=True
        ):
            if not text or not text.strip():
                continue
            local = np.asarray(quad, np.float64)[:4]
            parts = [(text, local)]
            if _label_cut(line_words) is not None:
                flipped = self._upside_down(bgr, local)
                parts = _split_label(text, local, line_words, flipped)
            for part_text, part_pts in parts:
                shifted = part_pts + np.array([dx, dy], np.float64)
                out.append(_detection(part_text, shifted, float(score), self.name))
        return out

    def _upside_down(self, bgr: np.ndarray, quad: np.ndarray) -> bool:
        """The direction classifier's verdict on one line (RapidOCR's word boxes ignore it)."""
        from rapidocr.utils.process_img import get_rotate_crop_image

        crop = get_rotate_crop_image(bgr, quad.astype(np.float32))
        # rapidocr has no public call for the classifier alone; its private loader is used,
        # which is why pyproject pins rapidocr==3.10.0 (its model files are hash-checked too).
        label, score = self._engine._load_cls_model()([crop]).cls_res[0]
        return "180" in str(label) and float(score) > 0.5


def _read_finer(
    coarse: Detection, fine: list[Detection], windows: list[tuple[int, int, int, int]]
) -> list[Detection] | None:
    """What stays of a downscaled pass's line once native readings replace it.

    ``None`` (it stays whole) unless a native window held it whole and native lines cover its
    box (>= FINER_COVER): a garbled small-scale reading of a line read well at full size would
    only be blurred as doubtful text. Then the parts of it that no native line covers, at least
    UNREAD_RUN line heights long (room for a letter), stay as lines of their own with the coarse
    reading (default deny: what the native pass did not read is judged as the coarse pass read
    it); ``[]`` when the native lines cover it all.
    """
    b = coarse.box
    x1, y1, x2, y2 = int(b.x), int(b.y), int(np.ceil(b.x + b.w)), int(np.ceil(b.y + b.h))
    if x2 <= x1 or y2 <= y1:
        return None
    if not any(x <= x1 and y <= y1 and x2 <= x + w and y2 <= y + h for x, y, w, h in windows):
        return None
    # A downscaled pass's box is padded by its own coarse pixels: compare its core (the middle
    # half across the line, less a quarter of its height at each end).
    grow = min(x2 - x1, y2 - y1) // 4
    cx1, cx2 = (x1 + grow, x2 - grow) if x2 - x1 > 2 * grow else (x1, x2)
    cy1, cy2 = (y1 + grow, y2 - grow) if y2 - y1 > 2 * grow else (y1, y2)
    covered = np.zeros((cy2 - cy1, cx2 - cx1), bool)
    for d in fine:
        f = d.box
        fx1, fy1 = max(cx1, int(f.x)), max(cy1, int(f.y))
        fx2, fy2 = min(cx2, int(np.ceil(f.x + f.w))), min(cy2, int(np.ceil(f.y + f.h)))
        if fx2 > fx1 and fy2 > fy1:
            covered[fy1 - cy1 : fy2 - cy1, fx1 - cx1 : fx2 - cx1] = True
    if covered.mean() < FINER_COVER:
        return None
    along_x = x2 - x1 >= y2 - y1  # the line runs along its box's long side
    read = covered.mean(axis=0 if along_x else 1) >= 0.5
    lo, hi = (x1, x2) if along_x else (y1, y2)
    start = cx1 if along_x else cy1
    rest = []
    for a, z in _runs(~read):
        a, z = start + a, start + z
        a, z = (lo if a == start else a), (hi if z == start + len(read) else z)  # to the ends
        if z - a >= UNREAD_RUN * min(x2 - x1, y2 - y1):
            px1, py1, px2, py2 = (a, y1, z, y2) if along_x else (x1, a, x2, z)
            corners = np.array([(px1, py1), (px2, py1), (px2, py2), (px1, py2)], np.float64)
            rest.append(_detection(coarse.text or "", corners, coarse.score, coarse.source))
    return rest


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """The ``[start, end)`` runs of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _bgr(rgb: np.ndarray) -> np.ndarray:
    """The BGR copy RapidOCR reads (grey images made three-channel)."""
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    return np.ascontiguousarray(rgb[:, :, 2::-1])


def _needs_reread(det: Detection) -> bool:
    if len(det.polygon) != 4:
        return False
    pts = np.asarray(det.polygon, np.float64)
    tall = min(float(np.linalg.norm(pts[3] - pts[0])), float(np.linalg.norm(pts[2] - pts[1])))
    return bool(det.score < REREAD_SCORE or tall < REREAD_PX)


def grow_quad(quad: np.ndarray, along: float, across: float) -> np.ndarray:
    """A text quad (reading order: top-left, top-right, bottom-right, bottom-left) grown by
    ``along`` times its height at each end and ``across`` times its height above and below."""
    p0, p1, p2, p3 = quad
    va = (p1 - p0) + (p2 - p3)
    vc = (p3 - p0) + (p2 - p1)
    h = float(np.linalg.norm(vc)) / 2
    a = va / max(1e-6, float(np.linalg.norm(va))) * along * h
    c = vc / max(1e-6, float(np.linalg.norm(vc))) * across * h
    return np.array([p0 - a - c, p1 + a - c, p2 + a + c, p3 - a + c], quad.dtype)


def _grown_quad(quad: np.ndarray, width: int, height: int) -> np.ndarray:
    """The line's quad with a margin across (REREAD_ACROSS) and along (REREAD_ALONG) it."""
    grown = grow_quad(quad, REREAD_ALONG, REREAD_ACROSS)
    grown[:, 0] = grown[:, 0].clip(0, width - 1)
    grown[:, 1] = grown[:, 1].clip(0, height - 1)
    return grown


def _stretched(crop: np.ndarray) -> np.ndarray:
    """The crop with its contrast stretched (faint or low-contrast text)."""
    import cv2

    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(1, 8)).apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def native_windows(
    probability: np.ndarray | None,
    width: int,
    height: int,
    tile: int = _DEFAULT.tile,
    overlap: int = _DEFAULT.overlap,
    presence: float = _DEFAULT.presence,
) -> list[tuple[int, int, int, int]]:
    """The ``(x, y, w, h)`` windows of a ``width`` x ``height`` photo to read at native resolution.

    Where the whole-image pass's text ``probability`` map reaches ``presence`` (windows larger
    than ``tile`` are cut into overlapping tiles); every tile of the photo when there is no map,
    when the map does not have the photo's shape, or when the windows would cost as many pixels
    as the tiles (default deny: when unsure, read everything).
    """
    tiles = _tiles(width, height, tile, overlap)
    if presence <= 0 or probability is None or probability.ndim != 2 or not probability.size:
        return tiles
    ph, pw = probability.shape
    if abs(pw / ph - width / height) > 0.1 * width / height:
        return tiles  # RapidOCR padded the image: the map is not the photo
    windows = _windows(probability >= presence, width, height)
    out = [
        (x + tx, y + ty, tw, th)
        for x, y, w, h in windows
        for tx, ty, tw, th in _tiles(w, h, tile, overlap)
    ]
    if sum(w * h for *_, w, h in out) >= sum(w * h for *_, w, h in tiles):
        return tiles
    return out


class _ProbabilityTap:
    """Keeps the text detector's last probability map (RapidOCR only returns the boxes)."""

    def __init__(self, engine: Any) -> None:
        self.last: np.ndarray | None = None
        detector = engine._load_det_model()
        self._session = detector.session
        detector.session = self

    def __call__(self, blob: np.ndarray) -> Any:
        preds = self._session(blob)
        self.last = np.asarray(preds)[0, 0]
        return preds


def _windows(mask: np.ndarray, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Windows ``(x, y, w, h)`` in a ``width`` x ``height`` image around the marked places of
    ``mask`` (a coarser map of the same image): padded by the place's own height plus
    ``WINDOW_PAD`` each way, at least ``WINDOW_MIN`` a side, sides rounded up to multiples of
    32 (the detector's stride, so it reads them unresized), and merged where one window
    around both costs no more pixels than the two."""
    import cv2

    mh, mw = mask.shape
    sx, sy = width / mw, height / mh
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for x, y, w, h, _area in stats[1:count]:
        x1, y1, x2, y2 = x * sx, y * sy, (x + w) * sx, (y + h) * sy
        pad = min(y2 - y1, WINDOW_GROW) + WINDOW_PAD
        boxes.append(_grown(x1 - pad, y1 - pad, x2 + pad, y2 + pad, width, height))

    def area(b: tuple[int, int, int, int]) -> int:
        return (b[2] - b[0]) * (b[3] - b[1])

    merged = True
    while merged:
        merged = False
        boxes.sort(key=area, reverse=True)
        for i, a in enumerate(boxes):
            for j in range(i + 1, len(boxes)):
                b = boxes[j]
                union = _grown(min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]),
                               max(a[3], b[3]), width, height)  # fmt: skip
                if area(union) <= area(a) + area(b):
                    boxes[i] = union
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return sorted((x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in boxes)


def _grown(
    x1: float, y1: float, x2: float, y2: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """The box clipped to the image, grown (centred, then shifted inside the image) to at least
    ``WINDOW_MIN`` px and to a multiple of 32 px a side, as far as the image allows."""
    out = []
    for lo, hi, size in ((x1, x2, width), (y1, y2, height)):
        lo, hi = max(0.0, lo), min(float(size), hi)
        want = min(size, -(-max(WINDOW_MIN, int(np.ceil(hi - lo))) // 32) * 32)
        short = want - (hi - lo)
        if short > 0:
            lo, hi = lo - short / 2, hi + short / 2
            if lo < 0:
                lo, hi = 0.0, hi - lo
            if hi > size:
                lo, hi = max(0.0, lo - (hi - size)), float(size)
        a = int(np.floor(lo))
        out += [a, min(size, a + want) if want >= hi - lo else int(np.ceil(hi))]
    return out[0], out[2], out[1], out[3]


def _detection(text: str, pts: np.ndarray, score: float, source: str) -> Detection:
    polygon = tuple((float(x), float(y)) for x, y in pts)
    box = Box.from_xyxy(pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())
    return Detection(Kind.TEXT, box, score, source, polygon=polygon, text=text)


def _label_cut(words: Any) -> int | None:
    """Index of the word that ends a leading label, if the line has one.

    A label is a word ending in ``:`` (``Name: ...``) or a leading phrase from LEAD_PHRASES
    (``Well done ...``, ``presented to ...``) with more words after it.
    """
    try:
        texts = [str(w[0]) for w in words]
    except (TypeError, IndexError):
        return None
    colon = next((i for i, t in enumerate(texts[:-1]) if t.endswith(":") and len(t) > 1), None)
    if colon is not None:
        return colon
    keys = [_plain(t) for t in texts]
    lead = [len(p) for p in LEAD_PHRASES if len(p) < len(keys) and tuple(keys[: len(p)]) == p]
    return max(lead) - 1 if lead else None


def _split_label(
    text: str, quad: np.ndarray, words: Any, flipped: bool
) -> list[tuple[str, np.ndarray]]:
    """Split ``Name: Amelia Hughes`` into the label and the rest, so a label stays legible.

    Uses RapidOCR's word boxes: the cut lies one character inside the end of the word ending
    in ``:``, measured along the line. RapidOCR places word boxes as if the line were upright;
    for a line the direction classifier turned (``flipped``) they are mirrored back here.
    """
    cut = _label_cut(words)
    try:
        texts = [str(w[0]) for w in words]
        quads = [np.asarray(w[2], np.float64)[:4] for w in words]
    except (TypeError, IndexError, ValueError):
        return [(text, quad)]
    p0, p1, p2, p3 = quad
    axis = p1 - p0
    length2 = float(axis @ axis)
    if cut is None or length2 < 1.0:
        return [(text, quad)]

    def span(qs: list[np.ndarray]) -> tuple[float, float]:
        # Along the line, from the words' left-edge to right-edge midpoints (robust to skew).
        ends = np.array([p for q in qs for p in ((q[0] + q[3]) / 2, (q[1] + q[2]) / 2)])
        t = (ends - p0) @ axis / length2
        lo, hi = float(t.min()), float(t.max())
        return (1.0 - hi, 1.0 - lo) if flipped else (lo, hi)

    label, rest = span(quads[: cut + 1]), span(quads[cut + 1 :])
    # Move the cut one character into the label: the name side gets the benefit of the doubt.
    char = (label[1] - label[0]) / max(1, len(" ".join(texts[: cut + 1])))
    if label[1] <= rest[0] + char:  # label first along the line
        at, label_first = min(label[1], rest[0]) - char, True
    elif rest[1] <= label[0] + char:  # the line runs against its quad's axis
        at, label_first = max(rest[1], label[0]) + char, False
    else:
        return [(text, quad)]  # the words overlap: keep the line whole
    top, bottom = p0 + at * axis, p3 + at * (p2 - p3)
    head = np.array([p0, top, bottom, p3])
    tail = np.array([top, p1, p2, bottom])
    label_pts, rest_pts = (head, tail) if label_first else (tail, head)
    return [(" ".join(texts[: cut + 1]), label_pts), (" ".join(texts[cut + 1 :]), rest_pts)]


def _load_engine(full_side: int, text_score: float, threads: int, device: str = "cpu") -> Any:
    from anonymiser.detect.device import CUDA, check_session, providers
    from anonymiser.models import resolve_model

    det, rec, cls = (resolve_model(n) for n in ("ppocr-det", "ppocr-rec", "ppocr-cls"))
    wanted = providers(device)
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    from rapidocr import RapidOCR

    params = {
        "Global.log_level": "error",
        "Global.text_score": text_score,
        "Global.max_side_len": full_side,
        "Global.use_cls": True,
        "Global.return_word_box": True,  # for splitting "Name: ..." labels off
        "Det.model_path": str(det),
        "Rec.model_path": str(rec),
        "Cls.model_path": str(cls),
        "EngineConfig.onnxruntime.intra_op_num_threads": threads or -1,
        "EngineConfig.onnxruntime.use_cuda": wanted[0] == CUDA,
    }
    try:
        engine: Any = RapidOCR(params=params)  # rapidocr is untyped; its private loaders are used
        engine(np.full((64, 64, 3), 255, np.uint8))  # load the models now, not on first photo
        for model in (engine._load_det_model(), engine._load_cls_model(), engine._load_rec_model()):
            check_session(model.session.session, wanted, "rapidocr")
    except Exception as err:  # rapidocr raises many kinds; all mean the same to us
        raise ModelError(f"rapidocr: cannot load its models: {err}") from None
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine


def _tiles(width: int, height: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles ``(x, y, w, h)`` of at most ``tile`` px that cover the image
    (``detect.tiles``)."""
    return tiles(width, height, tile, overlap)


def _merge(found: list[Detection], width: int, height: int) -> list[Detection]:
    """Drop lines that repeat (part of) a larger line with the same text; clip boxes."""
    found = sorted(found, key=lambda d: (-d.box.area, -d.score))
    kept: list[Detection] = []
    for det in found:
        if not any(_same_line(det, k) for k in kept):
            kept.append(det)
    out = []
    for d in kept:
        box = d.box.clipped(width, height)
        if box.area:
            out.append(Detection(d.kind, box, d.score, d.source, polygon=d.polygon, text=d.text))
    return sorted(out, key=lambda d: (d.box.y, d.box.x))


def _same_line(small: Detection, big: Detection) -> bool:
    """``small`` repeats ``big``: they overlap and read the same (or ``small`` is a piece of it).

    Strict on text: a garbled coarse line must not swallow a well-read fine one.
    """
    inter = small.box.intersection(big.box)
    if inter < DUPLICATE_OVERLAP * min(small.box.area, big.box.area):
        return False
    from rapidfuzz import fuzz

    a, b = _plain(small.text), _plain(big.text)
    return bool(a) and (a in b or fuzz.ratio(a, b) >= 90)


def _plain(text: str | None) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "").lower()
    return "".join(c for c in decomposed if c.isalnum())
