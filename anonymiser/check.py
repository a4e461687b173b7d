"""``anonymiser check``: an independent last gate on outputs before they are published.

For each output it looks again, without trusting the pipeline's own report:

* faces: CenterFace again, at ``settings.check_threshold`` (below the processing threshold). A
  blurred face still looks face-shaped to the detector (scores up to 0.6) and at this threshold
  sharp hands, flowers and drums fire too, so each detection gets a SECOND LOOK: the box with as
  much context again around it, resized so the face is 64 px, run through the detector once more
  (which sees it at 128 px). Real faces score high when zoomed; blurred faces and non-face blobs
  do not (at most 0.34 on the dev outputs). A detection is a finding when any of:

  1. the second look is sure: zoomed score >= ``CONFIRM_SCORE`` (0.4);
  2. both looks together: score + zoomed score >= ``TOGETHER_SCORE`` (0.7) and the box is sharp
     (``face_detail`` >= ``FACE_SHARP_DETAIL``, 30: profile and half-hidden faces);
  3. firm and very sharp: score >= ``FACE_FIRM_SCORE`` (0.4) and detail >= ``FACE_FIRM_DETAIL``
     (50: tiny faces, too small for a second look).

  ``strict=True`` (CLI ``--strict``) also counts every detection at the processing threshold
  that is not blurred (detail >= ``STRICT_DETAIL``): it catches all the faces below but also
  flags about one sharp non-face in two outputs. Those are logged as "possible faces" otherwise.
  Faces the report says were kept with consent are excluded when their boxes are given (``kept``;
  CLI ``--report``); without them a kept face is a finding too.
* names: OCR text matched against the consent log's roster (needs a consent log);
* metadata: any EXIF/XMP/IPTC/GPS/thumbnail/comment left (``media.scan_metadata``);
* file names: a roster name in the file or folder name.

Measured by ``benchmarks/check_gate.py`` (43 dev photos from face_detection/, identities/,
samples/ and tests/data/faces/, blurred by the pipeline with no consent log): no finding on the 43
outputs nor on a 12 MP mosaic of them (the rule before, score >= 0.45 and detail >= 30: one).
Run on the originals, it catches 77 of the 79 annotated faces >= 16 px the pipeline blurs (before:
68; the two left are a head bowed under a cap and a half-hidden profile), 16 of 21 smaller ones
(before: 15) and 67 of 69 regions in the photos without annotations (a 14 px face and a patch of
wall left). ``--strict`` catches all 193 regions, with 23 false findings on the 43 outputs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from anonymiser.errors import AnonymiserError, MediaError
from anonymiser.files import write_text_atomic
from anonymiser.inputs import carries_name, expand_inputs, is_video, name_parts
from anonymiser.results import Action, BatchResult, Box, ImageResult, Kind, Status

if TYPE_CHECKING:
    from anonymiser.pipeline import Anonymiser
    from anonymiser.settings import Settings

log = logging.getLogger(__name__)

CONFIRM_SCORE = 0.4  # second look (zoomed crop) at least this sure: a face
TOGETHER_SCORE = 0.7  # score + second look at least this, and sharp: a face
FACE_SHARP_DETAIL = 30.0  # mean |Laplacian| of the box centre at <= 32 px
FACE_FIRM_SCORE = 0.4  # a detection at least this sure and FACE_FIRM_DETAIL sharp: a face
FACE_FIRM_DETAIL = 50.0
STRICT_DETAIL = 10.0  # --strict: any detection at the processing threshold this sharp
ZOOM_FACE_PX = 64  # second look: the face's long side in the crop
ZOOM_CONTEXT = 2.0  # second look: crop side / face's long side
ZOOM_THRESHOLD = 0.05  # second look: detector threshold (its best score near the face is used)
KEPT_IOU = 0.3  # a detection overlapping a kept face this much is that face

FINDING_KINDS = ("face", "name-text", "metadata", "file-name", "unreadable")


@dataclass(frozen=True, slots=True)
class Finding:
    """Something identifying left in an output. ``detail`` never holds a name, only pupil ids."""

    path: str
    kind: str  # one of FINDING_KINDS
    detail: str
    box: Box | None = None

    def __str__(self) -> str:
        where = f" at [{', '.join(map(str, self.box.as_list()))}]" if self.box else ""
        return f"{self.path}: {self.kind}: {self.detail}{where}"


def face_detail(rgb: np.ndarray, box: Box) -> float:
    """Fine detail in the centre of a face box: mean |Laplacian| of the inner 60 %, in grey,
    shrunk to at most 32 px (so the measure does not depend on the face's size)."""
    import cv2

    height, width = rgb.shape[:2]
    x0, y0 = int(box.x + 0.2 * box.w), int(box.y + 0.2 * box.h)
    x1, y1 = int(box.x2 - 0.2 * box.w), int(box.y2 - 0.2 * box.h)
    x0, y0 = min(max(0, x0), width - 1), min(max(0, y0), height - 1)
    x1, y1 = min(width, max(x1, x0 + 1)), min(height, max(y1, y0 + 1))
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    grey = grey.astype(np.float32)
    h, w = grey.shape
    scale = min(1.0, 32.0 / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return float(np.mean(np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))))


def second_look(detector: Any, rgb: np.ndarray, box: Box) -> float:
    """The detector's score for ``box`` when zoomed: a square crop with as much context again
    around the box (mirrored past the image edge), resized so the box is ``ZOOM_FACE_PX``; the
    best score of a detection there that overlaps the box (0 when none)."""
    import cv2

    height, width = rgb.shape[:2]
    cx, cy = box.centre
    half = max(box.w, box.h) * ZOOM_CONTEXT / 2
    x0, y0, x1, y1 = round(cx - half), round(cy - half), round(cx + half), round(cy + half)
    pad = max(0, -x0, -y0, x1 - width, y1 - height)
    if pad:
        mode = cv2.BORDER_REFLECT_101 if pad < min(height, width) else cv2.BORDER_REPLICATE
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, mode)
    crop = np.ascontiguousarray(rgb[y0 + pad : y1 + pad, x0 + pad : x1 + pad])
    if crop.size == 0:
        return 0.0
    k = ZOOM_FACE_PX / max(box.w, box.h)
    side = max(16, round(crop.shape[1] * k))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    crop = cv2.resize(crop, (side, side), interpolation=interp)
    inner = Box(
        round(side / 2 - box.w * k / 2), round(side / 2 - box.h * k / 2),
        max(1, round(box.w * k)), max(1, round(box.h * k)),
    )  # fmt: skip
    scores = [d.score for d in detector.detect(crop, ZOOM_THRESHOLD) if near(d.box, inner)]
    return max(scores, default=0.0)


def near(a: Box, b: Box) -> bool:
    """One box's centre in the other, or IoU >= 0.3."""
    (ax, ay), (bx, by) = a.centre, b.centre
    return (
        a.iou(b) >= 0.3
        or (b.x <= ax <= b.x2 and b.y <= ay <= b.y2)
        or (a.x <= bx <= a.x2 and a.y <= by <= a.y2)
    )


def _is_kept(box: Box, kept: Sequence[Box]) -> bool:
    cx, cy = box.centre
    return any(box.iou(k) >= KEPT_IOU or (k.x <= cx <= k.x2 and k.y <= cy <= k.y2) for k in kept)


class Checker:
    """Checks output files. Engines may be injected; defaults load on first use.

    Parameters
    ----------
    settings:
        ``check_threshold`` sets the face detection threshold; ``extra["check_confirm_score"]``
        overrides ``CONFIRM_SCORE``.
    consent:
        The consent log: its roster is what names are matched against. Without one, name and
        file-name checks are skipped (with a warning).
    strict:
        Also count every sharp detection at the processing threshold (``STRICT_DETAIL``).
    """

    def __init__(
        self,
        settings: Settings,
        consent: Any = None,
        *,
        strict: bool = False,
        face_detector: Any = None,
        text_detector: Any = None,
        name_matcher: Any = None,
    ) -> None:
        self.settings = settings
        self.consent = consent
        self.strict = strict
        self.confirm_score = float(settings.extra.get("check_confirm_score", CONFIRM_SCORE))
        # The rule's thresholds were measured on single upright passes: a detector shared with
        # the pipeline is used without its mirrored and turned passes (same model and session).
        if hasattr(face_detector, "plain"):
            face_detector = face_detector.plain()
        self._face_detector = face_detector
        self._text_detector = text_detector
        self._name_matcher = name_matcher
        self._names_tried = name_matcher is not None
        self.warnings: list[str] = []
        self.possible: list[Finding] = []  # sharp unconfirmed detections, counted only if strict

    def warn(self, message: str) -> None:
        """Log ``message`` once and keep it in ``warnings``."""
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning("%s", message)

    # -- engines --------------------------------------------------------------------------------
    @property
    def face_detector(self) -> Any:
        if self._face_detector is None:
            from anonymiser.detect.faces import CenterFaceDetector

            s = self.settings
            self._face_detector = CenterFaceDetector(
                s.detect_sizes, s.tile_size, os.cpu_count() or 1, mirror=False, rotated=False
            )
        return self._face_detector

    @property
    def name_matcher(self) -> Any:
        if not self._names_tried:
            self._names_tried = True
            if self.consent is None:
                self.warn(
                    "check: no consent log, so no roster: names in text and file names not checked"
                )
                return None
            from anonymiser.identify.names import RosterNameMatcher

            pupils = list(self.consent.roster(self.settings.consent_date))
            if pupils:
                self._name_matcher = RosterNameMatcher(pupils)
            else:
                self.warn("check: the consent log has no pupils for this date: names not checked")
        return self._name_matcher

    @property
    def text_detector(self) -> Any:
        if self._text_detector is None and self.name_matcher is not None:
            from anonymiser.detect.text import RapidOcrDetector

            self._text_detector = RapidOcrDetector(self.settings)
        return self._text_detector

    # -- checks ---------------------------------------------------------------------------------
    def check_name(self, path: Path, rel: Path | None = None) -> list[Finding]:
        """A roster name in the file name (or in the folders of ``rel``)."""
        matcher = self.name_matcher
        if matcher is None:
            return []
        for part in name_parts(rel or Path(path.name)):
            if carries_name(part, matcher):
                return [
                    Finding(str(path), "file-name", "a roster name is in the file or folder name")
                ]
        return []

    def check_metadata(self, path: Path) -> list[Finding]:
        from anonymiser import media

        try:
            kinds = media.scan_metadata(path)
        except AnonymiserError as err:
            return [Finding(str(path), "unreadable", str(err))]
        return [
            Finding(str(path), "metadata", f"{kind} metadata left in the file") for kind in kinds
        ]

    def face_evidence(self, rgb: np.ndarray, det: Any) -> tuple[bool, bool, str]:
        """(is a face by the default rule, is a face by the strict rule, description)."""
        score = det.score
        detail = face_detail(rgb, det.box)
        what = f"unblurred face (score {score:.2f}, detail {detail:.0f}"
        if score >= FACE_FIRM_SCORE and detail >= FACE_FIRM_DETAIL:
            return True, True, what + ")"
        zoomed = second_look(self.face_detector, rgb, det.box)
        what += f", zoomed {zoomed:.2f})"
        face = zoomed >= self.confirm_score or (
            score + zoomed >= TOGETHER_SCORE and detail >= FACE_SHARP_DETAIL
        )
        strict = face or (score >= self.settings.face_threshold and detail >= STRICT_DETAIL)
        return face, strict, what

    def check_faces(self, path: Path, rgb: np.ndarray, kept: Sequence[Box] = ()) -> list[Finding]:
        found = []
        for det in self.face_detector.detect(rgb, self.settings.check_threshold):
            if _is_kept(det.box, kept):
                continue
            face, strict, what = self.face_evidence(rgb, det)
            if face or (strict and self.strict):
                found.append(Finding(str(path), "face", what, det.box))
            elif strict:
                self.possible.append(Finding(str(path), "face", what, det.box))
                log.info("%s: possible face, not confirmed: %s at %s", path, what, det.box)
        return found

    def check_text(self, path: Path, rgb: np.ndarray) -> list[Finding]:
        matcher = self.name_matcher
        detector = self.text_detector
        if matcher is None or detector is None:
            return []
        lines = detector.detect(rgb)
        found = []
        for line, match in zip(lines, matcher.match(lines), strict=True):
            if match.is_name:
                who = f"pupil {match.pupil_id}" if match.pupil_id else "more than one pupil"
                found.append(
                    Finding(str(path), "name-text", f"legible roster name ({who})", line.box)
                )
        return found

    def check_file(
        self, path: str | Path, kept: Sequence[Box] = (), rel: Path | None = None
    ) -> list[Finding]:
        """Every finding for one output file (an empty list when it is safe to publish)."""
        from anonymiser import media

        path = Path(path)
        findings = self.check_name(path, rel) + self.check_metadata(path)
        if any(f.kind == "unreadable" for f in findings):
            return findings
        if is_video(path):
            self.warn(f"{path}: video frames are not re-checked; only its name and metadata")
            return findings
        try:
            rgb = media.load_image(path, max_pixels=self.settings.max_pixels).rgb
        except MediaError as err:
            return [*findings, Finding(str(path), "unreadable", str(err))]
        return findings + self.check_faces(path, rgb, kept) + self.check_text(path, rgb)


def _key(path: str | Path) -> str:
    return os.path.normcase(str(Path(path).resolve()))


def kept_from_report(report_path: str | Path) -> dict[str, list[Box]]:
    """Boxes of faces kept with consent, per output, from a report JSON (keys: resolved paths)."""
    p = Path(report_path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        kept: dict[str, list[Box]] = {}
        for image in data.get("images", []):
            output = image.get("output")
            if not output:
                continue
            boxes = [
                Box(*map(int, r["box"]))
                for r in image.get("regions", [])
                if r.get("kind") == Kind.FACE and r.get("action") == Action.KEPT
            ]
            for candidate in {Path(output), p.parent / output}:
                kept.setdefault(_key(candidate), []).extend(boxes)
        return kept
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise MediaError(f"{p}: cannot read report: {err}") from None


def check_paths(
    paths: Iterable[str | Path],
    *,
    settings: Settings,
    consent: Any = None,
    kept: Mapping[str, Sequence[Box]] | None = None,
    strict: bool = False,
    checker: Checker | None = None,
) -> list[Finding]:
    """Check files and folders (searched recursively for images and videos).

    ``kept`` maps output paths (any form; they are resolved) to the boxes of faces kept with
    consent, e.g. from ``kept_from_report``. Without it every sharp face is a finding.
    """
    checker = checker or Checker(settings, consent, strict=strict)
    kept_by_key = {_key(k): list(v) for k, v in (kept or {}).items()}
    findings: list[Finding] = []
    # Only photos and videos are checked: other files carry no pixels to publish.
    files = [f for f in expand_inputs(paths) if f.skipped is None and not f.ignored]
    if not files:
        raise MediaError(f"{', '.join(map(str, paths))}: no images or videos to check")
    for f in files:
        if f.error is not None:  # a folder that cannot be listed: its files were not checked
            findings.append(Finding(str(f.path), "unreadable", f.error.removeprefix(f"{f.path}: ")))
            continue
        if not f.path.is_file():
            findings.append(Finding(str(f.path), "unreadable", "no such file"))
            continue
        findings += checker.check_file(f.path, kept_by_key.get(_key(f.path), ()), f.rel)
    if checker.possible:
        log.warning(
            "check: %d possible face(s) not confirmed by a second look, not counted "
            "(-v lists them; --strict counts them)",
            len(checker.possible),
        )
    return findings


def review_folder(outdir: Path) -> Path:
    """Where failing outputs go: a sibling ``<outdir>-review`` folder, never inside ``outdir``,
    so publishing ``outdir`` can never publish them."""
    outdir = Path(outdir).resolve()  # `-o .` has no name: resolved, the sibling is right
    return outdir.parent / f"{outdir.name}-review"


def _hold(output: Path, outdir: Path, findings: Sequence[Finding]) -> Path:
    try:
        rel = output.resolve().relative_to(Path(outdir).resolve())
    except ValueError:
        rel = Path(output.name)
    target = review_folder(outdir) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(output), str(target))
    write_text_atomic(
        target.with_name(target.name + ".reason.txt"),
        "Not published: verification failed.\n" + "".join(f"{f}\n" for f in findings),
        mode=0o644,
        what="verification note",
    )
    return target


def verify_batch(batch: BatchResult, anon: Anonymiser, outdir: Path) -> BatchResult:
    """Check every ok output; move failing ones to ``review_folder(outdir)`` and mark them failed.

    Faces the pipeline kept with consent are excluded by their own regions.
    """
    text_detector = anon.text_detector if anon.name_matcher is not None else None
    checker = Checker(
        anon.settings,
        anon.consent,
        face_detector=anon.face_detector,
        text_detector=text_detector,
        name_matcher=anon.name_matcher,
    )
    if anon.name_matcher is None:
        checker.warn("verify: no roster, so names in text and file names not checked")
    out: list[ImageResult] = []
    for result in batch.images:
        if result.status is not Status.OK or not result.output:
            out.append(result)
            continue
        output = Path(result.output)
        kept = [r.box for r in result.regions if r.kind is Kind.FACE and r.action is Action.KEPT]
        try:
            findings = checker.check_file(output, kept)
        except AnonymiserError as err:
            findings = [Finding(str(output), "unreadable", str(err))]
        if not findings:
            out.append(result)
            continue
        try:
            held: str | None = str(_hold(output, outdir, findings))
        except OSError as err:  # cannot move it: delete it rather than leave it to be published
            log.error("%s: cannot move to review folder (%s); deleting it", output, err)
            output.unlink(missing_ok=True)
            held = None
        summary = "; ".join(f"{f.kind}: {f.detail}" for f in findings[:3])
        more = f" (+{len(findings) - 3} more)" if len(findings) > 3 else ""
        extra = dict(result.extra)
        if held:
            extra["held_for_review"] = held
        out.append(
            dataclasses.replace(
                result,
                status=Status.FAILED,
                output=None,
                error=f"{result.source}: verification failed: {summary}{more}",
                extra=extra,
            )
        )
    return BatchResult(tuple(out), batch.seconds)


__all__ = [
    "CONFIRM_SCORE",
    "FACE_FIRM_SCORE",
    "FACE_SHARP_DETAIL",
    "Checker",
    "Finding",
    "check_paths",
    "kept_from_report",
    "near",
    "review_folder",
    "second_look",
    "verify_batch",
]
