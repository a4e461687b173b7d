"""The JSON audit report (one per run): every region of every image, with its action and reason.

It never contains OCR'd text or names read from the images: regions carry pupil ids only.
It does map each output to its source path as given, and a source file or folder may be named
after a pupil; that is why ``blur`` writes it beside the output folder, never inside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anonymiser import __version__
from anonymiser.consent import academic_year_of
from anonymiser.files import write_text_atomic
from anonymiser.results import BatchResult
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
