"""One run, in one place: batch -> verify -> report -> audit -> review.

``blur`` parses its options, calls ``run`` and prints; the watcher takes its files one at a time
through ``Anonymiser.process_file`` and the same audit step (``record``), and writes the same
report and review page per batch. The library's ``Anonymiser.process_batch`` stays the step
without the files around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from anonymiser.audit import AuditError, record_batch
from anonymiser.check import Checker, verify_batch
from anonymiser.consent import ConsentLog, Pupil
from anonymiser.pipeline import Anonymiser, Progress
from anonymiser.report import write_report
from anonymiser.results import BatchResult
from anonymiser.review import write_review
from anonymiser.settings import Settings


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a run writes besides the safe copies."""

    report: Path | None = None  # the JSON report; None: ``default_report_path(outdir)``
    review: Path | None = None  # the HTML review page; None: none
    verify: bool = False  # re-check every output (``check``) before accepting it


@dataclass(frozen=True, slots=True)
class RunResult:
    """The batch, where its report and review page went, and what the user should know."""

    batch: BatchResult
    report: Path
    review: Path | None
    warnings: tuple[str, ...] = ()


def default_report_path(outdir: Path) -> Path:
    """``OUTDIR-report.json`` beside the output folder, never in it (it maps outputs to source
    names, which may carry pupils' names); ``-o .`` has no name, hence resolved."""
    out_abs = Path(outdir).resolve()
    return out_abs.parent / f"{out_abs.name}-report.json"


def checker_for(anon: Anonymiser) -> Checker:
    """A ``Checker`` sharing the run's engines (its detector without the extra passes)."""
    names = anon.name_matcher
    checker = Checker(
        anon.settings,
        anon.consent,
        face_detector=anon.face_detector,
        text_detector=anon.text_detector if names is not None else None,
        name_matcher=names,
    )
    if names is None:
        checker.warn("verify: no roster, so names in text and file names not checked")
    return checker


def record(
    batch: BatchResult,
    settings: Settings,
    consent: ConsentLog | None,
    *,
    pupils: Sequence[Pupil] | None = None,
) -> str | None:
    """Append the batch to the audit journal; the warning to show when it cannot be written
    (the outputs are written by then: say so, but do not hide the failure), else None."""
    try:
        record_batch(batch, settings, consent, pupils=pupils)
    except AuditError as err:
        return str(err)
    return None


def run(
    anon: Anonymiser,
    inputs: Sequence[str | Path],
    outdir: Path,
    options: RunOptions | None = None,
    *,
    progress: Progress | None = None,
) -> RunResult:
    """Anonymise ``inputs`` into ``outdir``, then verify (if asked), write the report, record
    the run in the audit journal and write the review page (if asked)."""
    options = options or RunOptions()
    batch = anon.process_batch(inputs, outdir, progress=progress)
    if options.verify:
        batch = verify_batch(batch, checker_for(anon), outdir)
    report = options.report or default_report_path(outdir)
    write_report(report, batch, anon.settings, anon.consent)
    warning = record(batch, anon.settings, anon.consent)
    if options.review:
        write_review(options.review, batch, anon.settings, anon.consent)
    return RunResult(batch, report, options.review, (warning,) if warning else ())


__all__ = ["RunOptions", "RunResult", "checker_for", "default_report_path", "record", "run"]
