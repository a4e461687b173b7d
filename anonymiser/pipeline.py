"""The ``Anonymiser``: load models once, then detect -> identify -> decide -> redact -> write.

One image at a time in-process (``process_array``, ``process_file``) or a batch on a process pool
(``process_batch``). Fail closed: if any stage fails for an image, no output is written for it, the
failure is recorded, and the batch carries on.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anonymiser import media
from anonymiser.decide import decide
from anonymiser.detect.factory import DetectorUse, face_detector
from anonymiser.errors import AnonymiserError, SettingsError
from anonymiser.inputs import is_video, plan_outputs
from anonymiser.redact import redact
from anonymiser.results import (
    Action,
    BatchResult,
    Box,
    Detection,
    FaceMatch,
    ImageResult,
    Kind,
    MatchStatus,
    NameMatch,
    Reason,
    Region,
    Status,
)
from anonymiser.settings import Settings, TextMode, available_cores
from anonymiser.video import VideoEngines, process_video

if TYPE_CHECKING:
    from anonymiser.consent import ConsentLog, Pupil
    from anonymiser.detect import FaceDetector, TextDetector
    from anonymiser.identify import FaceMatcher, LineJudge, NameMatcher

log = logging.getLogger(__name__)

Progress = Callable[[ImageResult], None]


class Anonymiser:
    """Anonymise images. Collaborators may be injected (tests, other engines); defaults load lazily.

    Parameters
    ----------
    settings:
        The run's options; ``Settings()`` when omitted.
    consent:
        The consent log. Without one nobody is identified, so every face is blurred.
    face_detector, text_detector, face_matcher, name_matcher:
        Replace the default engines (CenterFace, RapidOCR, dlib embeddings, roster names).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        consent: ConsentLog | None = None,
        *,
        face_detector: FaceDetector | None = None,
        text_detector: TextDetector | None = None,
        face_matcher: FaceMatcher | None = None,
        name_matcher: NameMatcher | None = None,
        threads: int | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.consent = consent
        self._face_detector = face_detector
        self._video_detector = face_detector  # an injected detector serves video frames too
        self._text_detector = text_detector
        self._face_matcher = face_matcher
        self._name_matcher = name_matcher
        self._text_judge: LineJudge | None = None
        # onnxruntime threads: given, else ``settings.threads``, else every core; a share given
        # (a worker's) holds for the text models too, else they take onnxruntime's default
        self._given = threads
        self._share = threads or self.settings.threads
        self._threads = self._share or available_cores()
        self._pupils: list[Pupil] | None = None

    # -- engines, created on first use ------------------------------------------------------
    @property
    def face_detector(self) -> FaceDetector:
        if self._face_detector is None:
            self._face_detector = face_detector(self.settings, DetectorUse.PHOTO, self._threads)
        return self._face_detector

    def video_engines(self) -> VideoEngines:
        """What ``process_video`` needs: the detector for frames (the injected one, else one
        built for video once per Anonymiser), the consent log and the face matcher."""
        if self._video_detector is None:
            self._video_detector = face_detector(self.settings, DetectorUse.VIDEO, self._threads)
        return VideoEngines(self.settings, self.consent, self._video_detector, self.face_matcher)

    def _reads_text(self) -> bool:
        if self.settings.text is TextMode.OFF:
            return False
        return self.settings.text is not TextMode.NAMES or bool(self.pupils)  # names need a roster

    def _matches_faces(self) -> bool:
        return self.consent is not None and self.settings.store_path.exists()

    def check_models(self) -> None:
        """Raise ModelError now if a model file this run will load is missing or altered.

        ``process_batch`` calls it before it touches the first file, so a broken install stops
        the run with one error (exit code 4) instead of failing every file. Injected engines
        need no model file.
        """
        from anonymiser.models import resolve_model

        needed = []
        if self._face_detector is None:
            needed.append("centerface")
        if self._text_detector is None and self._reads_text():
            needed += ["ppocr-det", "ppocr-rec", "ppocr-cls"]
        if self._face_matcher is None and self._matches_faces():
            needed += ["dlib-resnet", "dlib-landmarks-5"]
        for name in needed:
            resolve_model(name)

    @property
    def text_detector(self) -> TextDetector | None:
        if not self._reads_text():
            return None
        if self._text_detector is None:
            from anonymiser.detect.text import RapidOcrDetector

            settings = self.settings
            if self._share and not settings.ocr.threads:
                ocr = dataclasses.replace(settings.ocr, threads=self._share)
                settings = dataclasses.replace(settings, ocr=ocr)
            self._text_detector = RapidOcrDetector(settings)
        return self._text_detector

    @property
    def pupils(self) -> list[Pupil]:
        if self._pupils is None:
            self._pupils = (
                list(self.consent.roster(self.settings.consent_date)) if self.consent else []
            )
        return self._pupils

    @property
    def face_matcher(self) -> FaceMatcher | None:
        if self._face_matcher is None and self._matches_faces():
            from anonymiser.identify.faces import FaceEmbeddingMatcher

            self._face_matcher = FaceEmbeddingMatcher(
                self.settings.store_path, self.consent, self.settings
            )
        return self._face_matcher

    @property
    def name_matcher(self) -> NameMatcher | None:
        if self._name_matcher is None and self.pupils:
            from anonymiser.identify.names import RosterNameMatcher

            self._name_matcher = RosterNameMatcher(self.pupils, self.settings.name_threshold)
        return self._name_matcher

    @property
    def text_judge(self) -> LineJudge:
        """Says of each text line: a pupil's name, another person's name, doubtful, or other.

        The default wraps the roster matcher in ``TextJudge`` (default deny for text); an
        injected ``name_matcher`` other than a ``RosterNameMatcher`` is used as it is.
        """
        if self._text_judge is None:
            from anonymiser.identify.judge import TextJudge
            from anonymiser.identify.names import RosterNameMatcher

            roster = self.name_matcher
            if roster is not None and not isinstance(roster, RosterNameMatcher):
                self._text_judge = roster
            else:
                self._text_judge = TextJudge(roster)
        return self._text_judge

    def warnings(self) -> list[str]:
        """Things the user should know before a run (printed by the CLI)."""
        out = []
        if self.consent is None:
            out.append("no consent log given: every face will be blurred")
            if self.settings.text is TextMode.NAMES:
                out.append(
                    "no consent log, so no roster: pupil names in text cannot be recognised; "
                    "use --text all to redact all legible text"
                )
        else:
            year_warning = self.consent.year_warning(self.settings.consent_date)
            if year_warning:
                out.append(year_warning)
        return out

    # -- one image ----------------------------------------------------------------------------
    def analyse(
        self, rgb: np.ndarray, *, manual: Sequence[Box] = ()
    ) -> tuple[tuple[Region, ...], bool]:
        """Detect, identify and decide: the regions of one image and whether it needs review.

        ``manual`` boxes (a reviewer's, in the image's displayed pixels) are added after the
        detections as ``kind=manual`` regions, always blurred, reason ``added-by-reviewer``.
        """
        s = self.settings
        faces: list[Detection] = self.face_detector.detect(rgb, s.face_threshold)
        matcher = self.face_matcher
        if matcher is not None and faces:
            matches: list[FaceMatch] = list(matcher.match(rgb, faces))
        else:
            matches = [FaceMatch(MatchStatus.NOT_MATCHED) for _ in faces]
        texts: list[Detection] = []
        names: list[NameMatch] = []
        detector = self.text_detector
        if detector is not None:
            texts = detector.detect(rgb)
            # With --text all every line is blurred anyway; names are still matched so the
            # report and audit journal say which lines named which pupil.
            names = list(self.text_judge.match(texts))
        regions, needs_review = decide(
            list(zip(faces, matches, strict=True)),
            list(zip(texts, names, strict=True)),
            self.consent,
            s,
        )
        return regions + manual_regions(manual, rgb.shape[1], rgb.shape[0]), needs_review

    def process_array(
        self, rgb: np.ndarray, *, manual: Sequence[Box] = ()
    ) -> tuple[np.ndarray, ImageResult]:
        """Anonymise an RGB uint8 array (H, W, 3) in memory: returns the safe copy and the result.

        ``manual``: extra boxes to blur whatever the detectors find (see ``analyse``).
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise SettingsError(
                f"array: expected an RGB uint8 array (H, W, 3), got {rgb.dtype} {rgb.shape}"
            )
        start = time.perf_counter()
        regions, needs_review = self.analyse(rgb, manual=manual)
        safe = redact(rgb, regions, self.settings.method)
        h, w = rgb.shape[:2]
        result = ImageResult(
            "<array>",
            None,
            Status.OK,
            w,
            h,
            needs_review,
            (),
            regions,
            seconds=time.perf_counter() - start,
        )
        return safe, result

    def process_file(
        self, src: str | Path, dst: str | Path, *, manual: Sequence[Box] = ()
    ) -> ImageResult:
        """Anonymise one file into ``dst`` (written atomically). Never raises for a bad input:
        the result then has ``status == "failed"`` and ``error`` set, and no output is written.

        ``manual``: extra boxes to blur (a reviewer's "blur more"), in the pixels of the photo
        as displayed (orientation applied); photos only.
        """
        src, dst = Path(src), Path(dst)
        start = time.perf_counter()
        try:
            if is_video(src):
                if manual:
                    return _failed(src, f"{src}: extra boxes to blur work on photos only", start)
                return self._process_video(src, dst)
            image = media.load_image(src, max_pixels=self.settings.max_pixels)
            regions, needs_review = self.analyse(image.rgb, manual=manual)
            safe = redact(image.rgb, regions, self.settings.method)
            removed = media.save_image(
                dst, safe, image, quality=self.settings.jpeg_quality, alpha=image.alpha
            )
        except AnonymiserError as err:
            return _failed(src, str(err), start)
        except Exception as err:  # fail closed on anything unexpected, and say what it was
            log.exception("%s: unexpected error", src)
            return _failed(src, f"{src}: internal error: {type(err).__name__}: {err}", start)
        return ImageResult(
            str(src), str(dst), Status.OK, image.width, image.height, needs_review,
            tuple(removed), regions, seconds=time.perf_counter() - start,
        )  # fmt: skip

    def _process_video(self, src: Path, dst: Path) -> ImageResult:
        return process_video(self.video_engines(), src, dst)

    # -- batches ------------------------------------------------------------------------------
    def process_batch(
        self,
        inputs: Sequence[str | Path],
        outdir: str | Path,
        *,
        progress: Progress | None = None,
    ) -> BatchResult:
        """Anonymise files and folders into ``outdir``, mirroring folder structure.

        Results come back in input order. Folders are searched recursively for images (and videos).

        With more than one worker (the default: one per core) this starts a process pool with the
        ``spawn`` method, which re-imports the calling script in every worker. In a script, call
        it only under ``if __name__ == "__main__":``, or Python stops with "RuntimeError: An
        attempt has been made to start a new process before the current process has finished its
        bootstrapping phase".

        Raises
        ------
        ModelError
            A model file the run needs is missing or altered (before any file is read).
        """
        start = time.perf_counter()
        self.check_models()
        if self.consent is not None:
            from anonymiser.identify.faces import check_store_location

            check_store_location(self.settings.store_path, [outdir])  # biometrics never published
        plan = plan_outputs(inputs, Path(outdir), self.name_matcher)
        ignored = tuple(str(item.source) for item in plan if item.ignored)
        plan = [item for item in plan if not item.ignored]
        results: list[ImageResult | None] = [None] * len(plan)
        todo: list[tuple[int, Path, Path]] = []
        for i, item in enumerate(plan):
            if item.output is not None:
                todo.append((i, item.source, item.output))
                continue
            if item.skipped is not None:  # not a photo or video: listed, never left out silently
                results[i] = ImageResult(str(item.source), None, Status.SKIPPED, error=item.skipped)
            else:  # could not be planned (e.g. unreadable folder): it fails alone
                results[i] = _failed(item.source, item.error or "", time.perf_counter())
            if progress:
                progress(results[i])  # type: ignore[arg-type]
        workers = min(self.settings.worker_count, len(todo))
        if workers <= 1:
            for i, src, dst in todo:
                results[i] = self.process_file(src, dst)
                if progress:
                    progress(results[i])  # type: ignore[arg-type]
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_init_worker,
                initargs=(self.settings, self.consent, self._pool_threads(workers)),
            ) as pool:  # fmt: skip
                futures = {pool.submit(_work, src, dst): (i, src) for i, src, dst in todo}
                for fut in as_completed(futures):
                    i, src = futures[fut]
                    try:
                        results[i] = fut.result()
                    except Exception as err:  # a worker died (e.g. killed for memory)
                        results[i] = _failed(src, f"{src}: worker failed: {err}", start)
                    if progress:
                        progress(results[i])  # type: ignore[arg-type]
        done = tuple(r for r in results if r is not None)
        return BatchResult(done, time.perf_counter() - start, ignored)

    def _pool_threads(self, workers: int) -> int:
        """Threads of each pool worker: the ``threads`` given shared out, else the settings'."""
        if self._given:
            return max(1, self._given // workers)
        return self.settings.worker_threads(workers)


def manual_regions(boxes: Sequence[Box], width: int, height: int) -> tuple[Region, ...]:
    """A reviewer's boxes as regions (clipped to the image; empty ones dropped)."""
    out = []
    for box in boxes:
        b = box.clipped(width, height)
        if b.w > 0 and b.h > 0:
            out.append(
                Region(Kind.MANUAL, b, 1.0, Action.BLURRED, Reason.ADDED_BY_REVIEWER,
                       source="reviewer")
            )  # fmt: skip
    return tuple(out)


def _failed(src: Path, error: str, start: float) -> ImageResult:
    return ImageResult(
        str(src), None, Status.FAILED, error=error, seconds=time.perf_counter() - start
    )


_worker: Anonymiser | None = None


def _init_worker(settings: Settings, consent: ConsentLog | None, threads: int) -> None:
    global _worker
    _worker = Anonymiser(settings, consent, threads=threads)


def _work(src: Path, dst: Path) -> ImageResult:
    assert _worker is not None
    return _worker.process_file(src, dst)


__all__ = ["Anonymiser", "manual_regions"]
