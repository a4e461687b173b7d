"""Irreversible redaction of faces (feathered ellipse), text (filled polygon) and reviewers' boxes.

Faces: the ellipse is enlarged to cover hair, ears and chin; inside it the pixels are pixelated to a
few blocks and then blurred heavily, so no detail of the original survives (``blur``); or only
pixelated (``pixelate``); or filled with one colour (``fill``). The feathered edge lies outside the
enlarged ellipse, so the face itself is always fully covered. A reviewer's box (``manual``) is
obliterated whole, exactly as drawn, as strongly as a face of its size. Pixels outside each region's
``redaction_area`` are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from anonymiser.results import Action, Box, Kind, Region
from anonymiser.settings import Method

FACE_GROW_X = 1.45  # ellipse width / detection width
FACE_GROW_Y = 1.65  # ellipse height / detection height (forehead, hair, chin)
FACE_FEATHER = 0.12  # feather ring, as a share of the ellipse size
TEXT_GROW = 1.15  # text boxes without an outline: grown this much about their centre
# Text outlines grow by the text's height, not by a share of the line's length (a 15 % growth of
# a long line reached into the label beside it). Measured on name_text_b (benchmarks/names.py,
# 81 photos, what is really filled): 0.3 along / 0 across (plus the 0.12-height dilation) keeps
# 91.5 % of other lines (86.5 % before) and covers 97.2 % of name lines (96.9 %); 0.1 across
# costs 7 points of other lines (lines on certificates sit close).
TEXT_ALONG = 0.3
TEXT_ACROSS = 0.0


def redaction_area(region: Region, width: int, height: int) -> Box:
    """The rectangle a region's redaction may change (clipped to the image)."""
    b = region.box
    if region.kind is Kind.MANUAL:  # exactly the box the reviewer drew
        return b.clipped(width, height)
    if region.kind is Kind.FACE:
        cx, cy = b.centre
        rx = b.w * FACE_GROW_X / 2 * (1 + FACE_FEATHER) + 2
        ry = b.h * FACE_GROW_Y / 2 * (1 + FACE_FEATHER) + 2
        return Box.from_xyxy(cx - rx, cy - ry, cx + rx, cy + ry).clipped(width, height)
    pad = max(2.0, 0.5 * (TEXT_GROW - 1) * min(b.w, b.h) + 0.1 * b.h)
    if len(region.polygon) == 4:  # room for TEXT_ALONG / TEXT_ACROSS and the dilation
        pad = max(pad, (max(TEXT_ALONG, TEXT_ACROSS) + 0.25) * min(b.w, b.h) + 2)
    area = Box.from_xyxy(
        b.x - pad - b.w * (TEXT_GROW - 1) / 2,
        b.y - pad,
        b.x2 + pad + b.w * (TEXT_GROW - 1) / 2,
        b.y2 + pad,
    )
    return area.clipped(width, height)


def _obliterate(patch: np.ndarray, size: float, method: Method) -> np.ndarray:
    """Replace a patch's content; ``size`` is the face size in px (sets the strength)."""
    h, w = patch.shape[:2]
    if method is Method.FILL:
        return np.broadcast_to(
            np.median(patch.reshape(-1, patch.shape[2]), axis=0), patch.shape
        ).astype(patch.dtype)
    # About 6 blocks across a face: too coarse to recognise anyone.
    blocks = max(1.0, size / 6.0)
    small = cv2.resize(
        patch, (max(1, round(w / blocks)), max(1, round(h / blocks))), interpolation=cv2.INTER_AREA
    )
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    if method is Method.BLUR:
        sigma = max(2.0, size / 5.0)
        # A large sigma is slow at full size (seconds for a close-up): blur a reduced copy (it holds
        # only a few blocks anyway) and scale it back up smoothly. Same look, cost flat in size.
        k = sigma / 8.0
        if k > 1.5:
            low = cv2.resize(
                out, (max(1, round(w / k)), max(1, round(h / k))), interpolation=cv2.INTER_AREA
            )
            low = cv2.GaussianBlur(
                low, (0, 0), sigmaX=sigma / k, sigmaY=sigma / k, borderType=cv2.BORDER_REFLECT
            )
            out = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            out = cv2.GaussianBlur(
                out, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
            )
    return out


def _face_mask(area: Box, region: Region) -> np.ndarray:
    b = region.box
    cx, cy = b.centre
    rx, ry = b.w * FACE_GROW_X / 2, b.h * FACE_GROW_Y / 2
    yy, xx = np.mgrid[area.y : area.y2, area.x : area.x2].astype(np.float32)
    # Normalised elliptical radius: <= 1 inside the (enlarged) ellipse.
    r = np.sqrt(((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2)
    mask: np.ndarray = np.clip((1 + FACE_FEATHER - r) / FACE_FEATHER, 0.0, 1.0)
    return mask


def _grown_text_polygon(pts: np.ndarray) -> np.ndarray:
    """A text line's outline grown by its own height: TEXT_ALONG at each end, TEXT_ACROSS
    above and below (then dilated by ``_text_mask``). Other outlines grow by TEXT_GROW."""
    if len(pts) != 4:
        centre = pts.mean(axis=0)
        scaled: np.ndarray = centre + (pts - centre) * TEXT_GROW
        return scaled
    from anonymiser.detect.text import grow_quad

    grown: np.ndarray = grow_quad(pts, TEXT_ALONG, TEXT_ACROSS)
    return grown


def _text_mask(area: Box, region: Region) -> np.ndarray:
    mask = np.zeros((area.h, area.w), np.float32)
    if len(region.polygon) >= 3:
        pts = _grown_text_polygon(np.array(region.polygon, np.float32))
        # Pad by the text's own height (the quad's short side), not the axis-aligned box's:
        # a tilted line would otherwise swallow its neighbours.
        sides = np.linalg.norm(np.roll(pts, -1, axis=0) - pts, axis=1)
        pad = max(2.0, 0.12 * float(sides.min()))
        grown = np.round(pts - [area.x, area.y]).astype(np.int32)
        cv2.fillPoly(mask, [grown], 1.0)
        k = max(3, int(pad * 2) | 1)
        mask = cv2.dilate(mask, np.ones((k, k), np.uint8)).astype(np.float32)
    else:
        mask[:] = 1.0
    return mask


def redact(
    rgb: np.ndarray, regions: Sequence[Region], method: Method | str = Method.BLUR
) -> np.ndarray:
    """A redacted copy of ``rgb``: every region whose action is ``blurred`` is obliterated."""
    method = Method(method)
    out = rgb.copy()
    height, width = rgb.shape[:2]
    for region in regions:
        if region.action is not Action.BLURRED:
            continue
        area = redaction_area(region, width, height)
        if area.w == 0 or area.h == 0:
            continue
        patch = out[area.y : area.y2, area.x : area.x2]
        if region.kind is Kind.FACE:
            mask = _face_mask(area, region)
            size = float(max(region.box.w, region.box.h))
            replaced = _obliterate(patch, size, method)
        elif region.kind is Kind.MANUAL:  # the whole rectangle, as strongly as a face
            mask = np.ones((area.h, area.w), np.float32)
            replaced = _obliterate(patch, float(max(area.w, area.h)), method)
        else:
            mask = _text_mask(area, region)
            # Text is always filled: blurred letters can stay readable.
            replaced = _obliterate(patch, float(region.box.h), Method.FILL)
        m = mask[..., None]
        blended = patch.astype(np.float32) * (1 - m) + replaced.astype(np.float32) * m
        out[area.y : area.y2, area.x : area.x2] = np.clip(np.round(blended), 0, 255).astype(
            out.dtype
        )
    return out
