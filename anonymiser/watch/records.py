"""Per-file records kept in the journal, and the per-batch report built from them.

Records survive a crash in the journal, so a batch's report is complete even if the watcher was
restarted part-way through the batch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from anonymiser import (
    Action,
    BatchResult,
    Box,
    ImageResult,
    Kind,
    Reason,
    Region,
    Settings,
    Status,
    TextCue,
)
from anonymiser.watch.layout import SHARED_FILE_MODE, Layout, unique_path

log = logging.getLogger("anonymiser.watch")

_KNOWN = frozenset(
    {"source", "output", "status", "width", "height", "needs_review", "metadata_removed",
     "regions", "error"}
)  # fmt: skip


def to_record(result: ImageResult) -> dict[str, Any]:
    return {"result": result.as_report(), "seconds": round(result.seconds, 3)}


def _region(d: dict[str, Any]) -> Region:
    return Region(
        Kind(d["kind"]),
        Box(*d["box"]),
        float(d["score"]),
        Action(d["action"]),
        Reason(d["reason"]),
        d.get("pupil_id"),
        d.get("detector", ""),
        d.get("text_matched"),
        cue=TextCue(d["cue"]) if d.get("cue") else None,
    )


def from_record(record: dict[str, Any]) -> ImageResult:
    d = record["result"]
    return ImageResult(
        d["source"],
        d.get("output"),
        Status(d["status"]),
        int(d.get("width", 0)),
        int(d.get("height", 0)),
        bool(d.get("needs_review", False)),
        tuple(d.get("metadata_removed", ())),
        tuple(_region(r) for r in d.get("regions", ())),
        d.get("error"),
        float(record.get("seconds", 0.0)),
        {k: v for k, v in d.items() if k not in _KNOWN},
    )


def write_batch_report(
    layout: Layout, label: str, records: list[Any], settings: Settings, consent: Any
) -> Path:
    """``ready/reports/<stamp> <label>.json`` and, if available, the ``.html`` review page."""
    from anonymiser.report import write_report
    from anonymiser.review import write_review

    stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
    path = unique_path(layout.reports / f"{stamp} {label}.json")
    results = tuple(from_record(r) for r in records)
    batch = BatchResult(results, sum(r.seconds for r in results))
    write_report(path, batch, settings, consent)
    os.chmod(path, SHARED_FILE_MODE)
    log.info(
        "batch %s: %d file(s) (%d failed), report %s",
        label, len(results), len(batch.failed), path.relative_to(layout.root),
    )  # fmt: skip
    # the review page shows thumbnails of the outputs: give it their absolute paths
    absolute = BatchResult(
        tuple(
            replace(r, output=str(layout.root / r.output) if r.output else None) for r in results
        ),
        batch.seconds,
    )
    html = path.with_suffix(".html")
    try:
        write_review(html, absolute, settings, consent)
        os.chmod(html, SHARED_FILE_MODE)
    except Exception as err:  # the review page is a convenience; never stop for it
        log.error("%s: review page not written: %s", html, err)
    return path
