"""Withdrawal of consent (policy 7.4): record it, purge biometrics at once, find earlier posts.

The withdrawal goes into ``<log>.withdrawals.csv`` beside the consent log (the MIS export is
re-imported, so the log itself is never edited). The pupil's embeddings are deleted from the
store immediately. Then every earlier output in which the pupil was kept sharp is listed, from
the JSON run reports given and from the audit journal, so staff can take those posts down.

Each file is listed once, however many reports and journal records name it. Reports hold paths as
they were given to the run (usually relative); a relative output is looked for beside its report,
under the watched folder for a watcher report (``ROOT/ready/reports/``), then in the current
folder, and shown as the absolute path where it was found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from anonymiser import audit, report
from anonymiser.consent import ConsentLog, record_withdrawal
from anonymiser.errors import ConsentError
from anonymiser.identify.faces import EmbeddingStore
from anonymiser.report import NotAReport, ReportError
from anonymiser.results import Action, Kind
from anonymiser.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EarlierOutput:
    """An output file in which the pupil's face was kept sharp.

    ``output`` is the absolute path where the file was found, else the path as recorded.
    """

    output: str
    source: str | None
    found_in: str  # the report file(s) and/or "audit journal", "; "-separated
    when: str | None = None


_Found = tuple[EarlierOutput, frozenset[Path]]  # an output and the paths it may be (resolved)


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
    found = _from_reports(pupil_id, reports, report.warnings)
    found += _from_journal(pupil_id, journal, settings, report.warnings)
    report.outputs = _unique(found)
    return report


def _candidates(output: str, report: Path | None) -> list[Path]:
    """Where an output path recorded in ``report`` (or the journal) may be, likeliest first."""
    p = Path(output).expanduser()
    if p.is_absolute():
        return [p]
    bases: list[Path] = []
    if report is not None:
        folder = report.absolute().parent
        bases.append(folder)
        if folder.name == "reports" and folder.parent.name == "ready":
            bases.append(folder.parent.parent)  # the watcher's paths are relative to ROOT
    bases.append(Path.cwd())
    return [base / p for base in bases]


def _locate(output: str, report: Path | None) -> tuple[str, frozenset[Path]]:
    """The path to show for an output and the resolved paths it may be.

    Found on disk: its absolute path, and that path resolved. Not found: the path as recorded,
    and the places it may have been (not the current folder, which two reports written in
    different folders share: better to list a file twice than to leave one out).
    """
    candidates = _candidates(output, report)
    for c in candidates:
        if c.exists():
            return str(c), frozenset({c.resolve()})
    if len(candidates) > 1:
        candidates = candidates[:-1]
    return output, frozenset(c.resolve() for c in candidates)


def _unique(found: list[_Found]) -> list[EarlierOutput]:
    """Each file once (first mention kept, where else it was found added)."""
    out: list[EarlierOutput] = []
    keys: list[frozenset[Path]] = []
    for o, where in found:
        same = next((i for i, k in enumerate(keys) if k & where), None)
        if same is None:
            out.append(o)
            keys.append(where)
            continue
        kept = out[same]
        if o.found_in not in kept.found_in.split("; "):
            out[same] = replace(
                kept,
                source=kept.source or o.source,
                found_in=f"{kept.found_in}; {o.found_in}",
                when=kept.when or o.when,
            )
    return out


def _report_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.rglob("*.json")) if p.is_dir() else [p]
    return files


def _from_reports(pupil_id: str, paths: Iterable[str | Path], warnings: list[str]) -> list[_Found]:
    found: list[_Found] = []
    for path in _report_files(paths):
        try:
            loaded = report.load(path)
        except NotAReport:
            continue  # some other JSON file in the folder
        except ReportError as err:
            warnings.append(f"{path}: not a readable report: {err}")
            continue
        for image in loaded.images:
            kept = any(
                r.kind is Kind.FACE and r.pupil_id == pupil_id and r.action is Action.KEPT
                for r in image.regions
            )
            if kept and image.output:
                shown, where = _locate(image.output, path)
                found.append((EarlierOutput(shown, image.source, str(path)), where))
    return found


def _from_journal(
    pupil_id: str, journal: str | Path | None, settings: Settings, warnings: list[str]
) -> list[_Found]:
    path = Path(journal) if journal else audit.journal_path(settings)
    if not path.exists():
        return []
    try:
        records = audit.pupil_outputs(pupil_id, path)
    except Exception as err:  # the journal is a help, not a must
        warnings.append(f"{path}: audit journal not readable: {err}")
        return []
    found: list[_Found] = []
    for r in records:
        shown, where = _locate(str(r.output), None)  # the journal's paths are absolute
        found.append((EarlierOutput(shown, r.source, "audit journal", r.time), where))
    return found
