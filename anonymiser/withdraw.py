"""Withdrawal of consent (policy 7.4): record it, purge biometrics at once, find earlier posts.

The withdrawal goes into ``<log>.withdrawals.csv`` beside the consent log (the MIS export is
re-imported, so the log itself is never edited). The pupil's embeddings are deleted from the
store immediately. Then every earlier output in which the pupil was kept sharp is listed, from
the JSON run reports given and from the audit journal, so staff can take those posts down.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from anonymiser.consent import ConsentLog, record_withdrawal
from anonymiser.errors import ConsentError
from anonymiser.identify.faces import EmbeddingStore
from anonymiser.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EarlierOutput:
    """An output file in which the pupil's face was kept sharp."""

    output: str
    source: str | None
    found_in: str  # the report file, or "audit journal"
    when: str | None = None


@dataclass(slots=True)
class WithdrawReport:
    pupil_id: str
    on_date: date
    withdrawals_file: Path
    purged_embeddings: int = 0
    outputs: list[EarlierOutput] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"warning: {w}" for w in self.warnings]
        lines.append(
            f"{self.pupil_id}: withdrawal from {self.on_date:%d/%m/%Y} recorded in "
            f"{self.withdrawals_file}; {self.purged_embeddings} face embeddings deleted"
        )
        if self.outputs:
            lines.append(
                f"{len(self.outputs)} earlier outputs show this pupil; take them down where "
                "practicable:"
            )
            lines += [f"  {o.output}  (from {o.source or '?'}; {o.found_in})" for o in self.outputs]
        else:
            lines.append("no earlier output with this pupil kept sharp was found")
        return "\n".join(lines)


def withdraw(
    consent_path: str | Path,
    pupil_id: str,
    on_date: date,
    settings: Settings,
    reports: Iterable[str | Path] = (),
    *,
    journal: str | Path | None = None,
) -> WithdrawReport:
    """Record a withdrawal, purge the pupil's embeddings, list earlier outputs.

    Raises ConsentError if the pupil is not on a readable consent log (a mistyped id must not
    look like a recorded withdrawal). An invalid log does not block a withdrawal.
    """
    pupil_id = pupil_id.strip()
    warnings: list[str] = []
    try:
        consent = ConsentLog.load(consent_path)
    except ConsentError as err:
        consent = None
        warnings.append(f"consent log not usable, withdrawal recorded anyway: {err}")
    if consent is not None and not consent.rows_for(pupil_id):
        raise ConsentError(f"{consent_path}: pupil {pupil_id!r} is not on the consent log")
    report = WithdrawReport(pupil_id, on_date, record_withdrawal(consent_path, pupil_id, on_date))
    report.warnings = warnings
    store = settings.store_path
    if store.exists():
        with EmbeddingStore(store) as s:
            report.purged_embeddings = s.purge_pupil(pupil_id)
    report.outputs = _from_reports(pupil_id, reports, report.warnings)
    report.outputs += _from_journal(pupil_id, journal, settings, report.warnings)
    unique: dict[str, EarlierOutput] = {}
    for o in report.outputs:
        unique.setdefault(o.output, o)
    report.outputs = list(unique.values())
    return report


def _report_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.rglob("*.json")) if p.is_dir() else [p]
    return files


def _from_reports(
    pupil_id: str, paths: Iterable[str | Path], warnings: list[str]
) -> list[EarlierOutput]:
    found: list[EarlierOutput] = []
    for path in _report_files(paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            warnings.append(f"{path}: not a readable report: {err}")
            continue
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list):
            continue  # some other JSON file in the folder
        for image in images:
            if not isinstance(image, dict):
                continue
            regions = image.get("regions") or []
            kept = any(
                isinstance(r, dict)
                and r.get("kind") == "face"
                and r.get("pupil_id") == pupil_id
                and r.get("action") == "kept"
                for r in regions
            )
            if kept and image.get("output"):
                found.append(EarlierOutput(str(image["output"]), image.get("source"), str(path)))
    return found


def _from_journal(
    pupil_id: str, journal: str | Path | None, settings: Settings, warnings: list[str]
) -> list[EarlierOutput]:
    try:
        from anonymiser import audit
    except ImportError:
        return []
    path = Path(journal) if journal else audit.journal_path(settings)
    if not path.exists():
        return []
    try:
        records = audit.pupil_outputs(pupil_id, path)
    except Exception as err:  # the journal is a help, not a must
        warnings.append(f"{path}: audit journal not readable: {err}")
        return []
    return [EarlierOutput(str(r.output), r.source, "audit journal", r.time) for r in records]
