"""The JSON audit report (one per run): every region of every image, with its action and reason.

It never contains OCR'd text or names read from the images: regions carry pupil ids only.
It does map each output to its source path as given, and a source file or folder may be named
after a pupil; that is why ``blur`` writes it beside the output folder, never inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anonymiser._version import __version__
from anonymiser.consent import academic_year_of
from anonymiser.errors import MediaError
from anonymiser.files import write_text_atomic
from anonymiser.results import BatchResult, ImageResult
from anonymiser.settings import Settings

if TYPE_CHECKING:
    from anonymiser.consent import ConsentLog

REPORT_VERSION = 1


def build_report(
    batch: BatchResult, settings: Settings, consent: ConsentLog | None = None
) -> dict[str, Any]:
    log = None
    if consent is not None:
        log = {
            "path": str(consent.path),
            "sha256": consent.sha256,
            "academic_year": academic_year_of(settings.consent_date),
        }
    return {
        "version": REPORT_VERSION,
        "tool": f"anonymiser {__version__}",
        "settings": settings.as_report(),
        "consent_log": log,
        "consent_date": settings.consent_date.isoformat(),
        "summary": summarise(batch),
        "images": [image.as_report() for image in batch.images],
        "ignored": list(batch.ignored),  # hidden, temporary and system files, left alone
    }


def summarise(batch: BatchResult) -> dict[str, Any]:
    return {
        "images": len(batch.images),
        "failed": len(batch.failed),
        "skipped": len(batch.skipped),
        "ignored": len(batch.ignored),
        "faces_blurred": sum(i.faces_blurred for i in batch.images),
        "faces_kept": sum(i.faces_kept for i in batch.images),
        "text_blurred": sum(i.texts_blurred for i in batch.images),
        "needs_review": sum(1 for i in batch.images if i.needs_review),
        "seconds": round(batch.seconds, 2),
    }


class ReportError(MediaError):
    """A report file cannot be read."""


class NotAReport(ReportError):
    """A JSON file that is not a run report (no ``images`` list): e.g. another file in a
    folder of reports."""


@dataclass(frozen=True, slots=True)
class Report:
    """A run report read back: its images as results (``ImageResult.from_report``)."""

    path: Path
    images: tuple[ImageResult, ...]
    consent_sha256: str | None = None


def load(path: str | Path) -> Report:
    """Read a run report (``blur``'s, or a watcher batch's): the one reader of the format.

    Raises
    ------
    NotAReport
        The file is JSON but not a report.
    ReportError
        The file cannot be read, or an entry is not as ``write_report`` writes it.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{p}: cannot read report: {err}") from None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise NotAReport(f"{p}: not a run report (no list of images)")
    try:
        results = tuple(ImageResult.from_report(image) for image in images)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ReportError(f"{p}: cannot read report: {type(err).__name__}: {err}") from None
    log = data.get("consent_log")
    return Report(p, results, log.get("sha256") if isinstance(log, dict) else None)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file, fsync, rename)."""
    write_text_atomic(
        Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n", what="report"
    )


def write_report(
    path: str | Path, batch: BatchResult, settings: Settings, consent: ConsentLog | None = None
) -> dict[str, Any]:
    report = build_report(batch, settings, consent)
    write_json_atomic(Path(path), report)
    return report
