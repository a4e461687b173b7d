"""Per-file records kept in the journal, turned back into ``ImageResult`` for batch reports."""

from __future__ import annotations

from typing import Any

from anonymiser import Action, Box, ImageResult, Kind, Reason, Region, Status

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
