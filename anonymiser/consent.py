"""Consent log: load and validate the MIS export, answer "may this pupil be shown?".

One row per pupil per academic year (1 September – 31 August). Consent is per media type
(images, video) and purpose (social media, website, marketing); ``biometric_matching`` is the
separate written consent that face matching needs (Protection of Freedoms Act 2012 ss. 26–27).
Withdrawals recorded by ``anonymiser withdraw`` live in ``<log>.withdrawals.csv`` beside the log
(the MIS export is re-imported, so we never edit it) and are merged on load.

Validation reports every problem with its line number; a log with errors is never used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from anonymiser.errors import ConsentError
from anonymiser.inputs import is_image
from anonymiser.results import Reason
from anonymiser.settings import Media, Purpose

REQUIRED = ("pupil_id", "first_name", "last_name", "academic_year")
CONSENT_COLUMNS = (
    "images_social_media",
    "images_website",
    "images_marketing",
    "video_social_media",
    "video_website",
    "video_marketing",
    "biometric_matching",
)
OPTIONAL = ("preferred_name", "year_group", "academy", "withdrawn_on", "reference_photos")
WITHDRAWAL_COLUMNS = ("pupil_id", "withdrawn_on", "recorded_at")

_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}


# ----------------------------------------------------------------------------- small helpers


def academic_year_of(day: date) -> str:
    """``"2026/27"`` for any date from 1 Sept 2026 to 31 Aug 2027."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def parse_academic_year(text: str) -> str | None:
    """Normalise ``2026/27``, ``2026/2027``, ``2026-27`` to ``2026/27``; None if not a year."""
    m = re.fullmatch(r"\s*(\d{4})\s*[/-]\s*(\d{2}|\d{4})\s*", text)
    if not m:
        return None
    start, end = int(m.group(1)), int(m.group(2))
    if (len(m.group(2)) == 2 and end != (start + 1) % 100) or (
        len(m.group(2)) == 4 and end != start + 1
    ):
        return None
    return f"{start}/{(start + 1) % 100:02d}"


def parse_date(text: str) -> date | None:
    """UK ``dd/mm/yyyy`` (also ``d/m/yyyy``, ``dd-mm-yyyy``, ``dd.mm.yyyy``) or ISO ``yyyy-mm-dd``."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
        if m:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None
    return None


def parse_yes_no(text: str) -> bool | None:
    value = text.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    return None


def _column_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").strip().lower())


def consent_column(media: Media | str, purpose: Purpose | str) -> str:
    """``images`` + ``social-media`` -> ``images_social_media``."""
    return f"{Media(media).value}_{Purpose(purpose).value.replace('-', '_')}"


def withdrawals_path(log_path: str | Path) -> Path:
    """``consent.csv`` -> ``consent.withdrawals.csv`` beside it."""
    p = Path(log_path)
    return p.with_name(f"{p.stem}.withdrawals.csv")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# ----------------------------------------------------------------------------- result types


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int  # 0 = the file as a whole
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.message}"
            if self.line
            else f"{self.file}: {self.message}"
        )


@dataclass(frozen=True, slots=True)
class Pupil:
    """A roster entry: what the name matcher needs."""

    pupil_id: str
    first_name: str
    last_name: str
    preferred_name: str = ""


@dataclass(frozen=True, slots=True)
class ConsentRow:
    """One pupil in one academic year."""

    line: int
    pupil_id: str
    first_name: str
    last_name: str
    academic_year: str
    consents: dict[str, bool]  # CONSENT_COLUMNS -> yes/no
    preferred_name: str = ""
    year_group: str = ""
    academy: str = ""
    withdrawn_on: date | None = None
    reference_photos: tuple[Path, ...] = ()

    @property
    def pupil(self) -> Pupil:
        return Pupil(self.pupil_id, self.first_name, self.last_name, self.preferred_name)

    @property
    def biometric(self) -> bool:
        return self.consents.get("biometric_matching", False)

    def summary(self) -> dict[str, Any]:
        """For ``consent show``: no reference photo paths beyond their names."""
        return {
            "line": self.line,
            "pupil_id": self.pupil_id,
            "academic_year": self.academic_year,
            "name": " ".join(x for x in (self.first_name, self.last_name) if x),
            "preferred_name": self.preferred_name,
            "year_group": self.year_group,
            "academy": self.academy,
            "consents": dict(self.consents),
            "withdrawn_on": self.withdrawn_on.isoformat() if self.withdrawn_on else None,
            "reference_photos": [p.name for p in self.reference_photos],
        }


@dataclass(frozen=True, slots=True)
class Withdrawal:
    line: int
    pupil_id: str
    withdrawn_on: date
    recorded_at: str = ""


@dataclass(slots=True)
class ValidationReport:
    """Everything ``consent validate`` prints."""

    path: Path
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        lines = [f"error: {p}" for p in self.errors] + [f"warning: {p}" for p in self.warnings]
        s = self.summary
        if s:
            bad = s.get("rows_with_errors", 0)
            lines.append(
                f"{self.path}: {_count(s.get('rows', 0), 'row')}"
                + (f" ({bad} with errors, left out of the counts below)" if bad else "")
                + f", {_count(s.get('pupils', 0), 'pupil')}, "
                f"academic years {', '.join(s.get('years', [])) or 'none'}"
            )
            for year, counts in s.get("by_year", {}).items():
                parts = ", ".join(f"{k} {v}" for k, v in counts.items())
                lines.append(f"  {year}: {parts}")
            lines.append(f"  withdrawals recorded: {s.get('withdrawals', 0)}")
            lines.append(f"  missing reference photos: {s.get('missing_photos', 0)}")
        verdict = "OK" if self.ok else f"INVALID ({_count(len(self.errors), 'error')})"
        lines.append(f"{self.path}: {verdict}, {_count(len(self.warnings), 'warning')}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- reading CSV


class _ReadError(ConsentError):
    """The file cannot be read as text; ``problem`` says where (for ``validate``)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _read_text(path: Path, what: str = "consent log") -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise _ReadError(
            Problem(str(path), 0, f"cannot read {what}: {err.strerror or err}")
        ) from None
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise _ReadError(
            Problem(str(path), line, "not UTF-8 text (in Excel use Save As 'CSV UTF-8')")
        ) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) per CSV record; Excel quoting, multi-line cells."""
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    for fields in reader:
        yield start, fields
        start = reader.line_num + 1


class _Collector:
    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.missing_photos = 0
        self.data_rows = 0  # every non-empty row after the header, valid or not
        self.bad_rows = 0  # rows left out because of an error
        self.pupil_ids: set[str] = set()  # on any data row

    def error(self, line: int, message: str) -> None:
        self.errors.append(Problem(self.name, line, message))

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(Problem(self.name, line, message))


def _parse_log(path: Path, text: str, out: _Collector) -> list[ConsentRow]:
    records = _records(text)
    header_line, header = next(records, (1, []))
    keys = [_column_key(h) for h in header]
    if not any(keys):
        out.error(1, "empty file: no header row")
        return []
    for col in REQUIRED:
        if col not in keys:
            out.error(header_line, f"missing required column {col!r}")
    for col in CONSENT_COLUMNS:
        if col not in keys:
            out.warn(header_line, f"missing consent column {col!r}: treated as 'no' for everyone")
    for i, key in enumerate(keys):
        if keys.index(key) != i:
            out.error(header_line, f"column {header[i]!r} appears twice")
        elif key and key not in REQUIRED + CONSENT_COLUMNS + OPTIONAL:
            out.warn(header_line, f"unknown column {header[i]!r} ignored")
    if out.errors:
        return []

    rows: list[ConsentRow] = []
    seen: dict[tuple[str, str], int] = {}
    id_col = keys.index("pupil_id")
    width = max(i for i, k in enumerate(keys) if k) + 1  # trailing unnamed columns may be cut
    for line, fields in records:
        if not fields:
            continue  # a truly empty line
        if not any(f.strip() for f in fields):
            out.warn(line, "empty row ignored")
            continue
        out.data_rows += 1
        if len(fields) > id_col and fields[id_col].strip():
            out.pupil_ids.add(fields[id_col].strip())
        too_long = len(fields) > len(keys) and any(f.strip() for f in fields[len(keys) :])
        if too_long or len(fields) < width:
            # A short row (cut off, hand-edited) is an error, never read as blank = no: the
            # columns it lacks may be consent columns. Such a row is not used until fixed.
            out.error(line, f"{len(fields)} fields, expected {len(keys)} (as in the header)")
            out.bad_rows += 1
            continue
        cell = {k: (fields[i].strip() if i < len(fields) else "") for i, k in enumerate(keys)}
        row = _parse_row(path, line, cell, out)
        if row is None:
            out.bad_rows += 1
            continue
        ident = (row.pupil_id, row.academic_year)
        if ident in seen:
            out.error(
                line,
                f"duplicate pupil_id {row.pupil_id!r} for {row.academic_year} "
                f"(also on line {seen[ident]})",
            )
            out.bad_rows += 1
            continue
        seen[ident] = line
        rows.append(row)
    return rows


def _parse_row(path: Path, line: int, cell: dict[str, str], out: _Collector) -> ConsentRow | None:
    n_errors = len(out.errors)
    for col in REQUIRED:
        if not cell.get(col):
            out.error(line, f"empty {col}")
    year = parse_academic_year(cell.get("academic_year", "")) if cell.get("academic_year") else None
    if cell.get("academic_year") and year is None:
        out.error(line, f"academic_year {cell['academic_year']!r} is not like 2026/27")
    consents: dict[str, bool] = {}
    for col in CONSENT_COLUMNS:
        value = parse_yes_no(cell.get(col, ""))
        if value is None:
            out.error(line, f"{col} {cell[col]!r} is not yes/no (yes, no, y, n, true, false, 1, 0)")
        consents[col] = bool(value)
    withdrawn: date | None = None
    if cell.get("withdrawn_on"):
        withdrawn = parse_date(cell["withdrawn_on"])
        if withdrawn is None:
            out.error(
                line,
                f"withdrawn_on {cell['withdrawn_on']!r} is not a date (dd/mm/yyyy or yyyy-mm-dd)",
            )
    photos: list[Path] = []
    for name in filter(None, (p.strip() for p in cell.get("reference_photos", "").split(";"))):
        photo = (path.parent / name).resolve()
        if not photo.is_file():
            out.error(line, f"reference photo {name!r} not found (looked in {path.parent})")
            out.missing_photos += 1
        elif not is_image(photo):
            out.error(line, f"reference photo {name!r} is not an image file")
        photos.append(photo)
    if photos and not consents.get("biometric_matching"):
        out.warn(line, "reference photos listed without biometric consent: they are never used")
    if len(out.errors) > n_errors or year is None:
        return None
    return ConsentRow(
        line=line,
        pupil_id=cell["pupil_id"],
        first_name=cell["first_name"],
        last_name=cell["last_name"],
        academic_year=year,
        consents=consents,
        preferred_name=cell.get("preferred_name", ""),
        year_group=cell.get("year_group", ""),
        academy=cell.get("academy", ""),
        withdrawn_on=withdrawn,
        reference_photos=tuple(photos),
    )


def _parse_withdrawals(path: Path, out: _Collector) -> tuple[list[Withdrawal], str | None]:
    if not path.exists():
        return [], None
    data, text = _read_text(path, "withdrawals file")
    found: list[Withdrawal] = []
    records = _records(text)
    header_line, header = next(records, (1, []))
    keys = [_column_key(h) for h in header]
    for col in ("pupil_id", "withdrawn_on"):
        if col not in keys:
            out.error(header_line, f"missing column {col!r}")
    if out.errors:
        return [], None
    for line, fields in records:
        if not any(f.strip() for f in fields):
            continue
        cell = {k: (fields[i].strip() if i < len(fields) else "") for i, k in enumerate(keys)}
        when = parse_date(cell.get("withdrawn_on", ""))
        if not cell.get("pupil_id"):
            out.error(line, "empty pupil_id")
        elif when is None:
            out.error(
                line,
                f"withdrawn_on {cell.get('withdrawn_on')!r} is not a date "
                "(dd/mm/yyyy or yyyy-mm-dd)",
            )
        else:
            found.append(Withdrawal(line, cell["pupil_id"], when, cell.get("recorded_at", "")))
    return found, hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- the log


class ConsentLog:
    """A validated consent log (plus its withdrawals file). Build with ``ConsentLog.load``."""

    def __init__(
        self,
        path: Path,
        sha256: str,
        rows: Iterable[ConsentRow],
        withdrawals: Iterable[Withdrawal] = (),
        *,
        withdrawals_sha256: str | None = None,
        on_date: date | None = None,
        warnings: Iterable[Problem] = (),
    ) -> None:
        self.path = path
        self.sha256 = sha256
        self.withdrawals_sha256 = withdrawals_sha256
        self.rows: tuple[ConsentRow, ...] = tuple(rows)
        self.withdrawals: tuple[Withdrawal, ...] = tuple(withdrawals)
        self.warnings: tuple[Problem, ...] = tuple(warnings)
        self.on_date = on_date
        self._by_key = {(r.pupil_id, r.academic_year): r for r in self.rows}
        self._ids = {r.pupil_id for r in self.rows}

    # -- loading

    @classmethod
    def validate(cls, path: str | Path, on_date: date | None = None) -> ValidationReport:
        """Every problem of the log (and its withdrawals file) with line numbers, and a summary."""
        p = Path(path)
        report = ValidationReport(p)
        try:
            log, errors, warnings, counts = cls._parse(p, on_date)
        except _ReadError as err:
            report.errors = [err.problem]
            return report
        report.errors, report.warnings = errors, warnings
        report.summary = log.summary()
        report.summary.update(counts)  # the file's rows, with errors or not
        return report

    @classmethod
    def load(cls, path: str | Path, on_date: date | None = None) -> ConsentLog:
        """Load and validate; raises ConsentError listing every problem if the log is unusable.

        ``on_date`` only sets ``academic_year`` (the year reports name); queries take their own date.
        """
        log, errors, _, _ = cls._parse(Path(path), on_date)
        if errors:
            shown = "; ".join(f"{Path(e.file).name}:{e.line}: {e.message}" for e in errors[:20])
            more = f"; … and {len(errors) - 20} more" if len(errors) > 20 else ""
            raise ConsentError(
                f"{path}: consent log invalid ({len(errors)} problems): {shown}{more}"
            )
        return log

    @classmethod
    def _parse(
        cls, path: Path, on_date: date | None
    ) -> tuple[ConsentLog, list[Problem], list[Problem], dict[str, int]]:
        """The log of the valid rows, the errors, the warnings, and counts over every data row
        (``rows``, ``rows_with_errors``, ``pupils``, ``missing_photos``)."""
        data, text = _read_text(path)
        out = _Collector(path)
        rows = _parse_log(path, text, out)
        w_path = withdrawals_path(path)
        w_out = _Collector(w_path)
        withdrawals, w_sha = _parse_withdrawals(w_path, w_out)
        ids = {r.pupil_id for r in rows}
        for w in withdrawals:
            if ids and w.pupil_id not in ids:
                w_out.warn(w.line, f"withdrawal for {w.pupil_id!r}, who is not on the consent log")
        warnings = out.warnings + w_out.warnings
        log = cls(
            path,
            hashlib.sha256(data).hexdigest(),
            rows,
            withdrawals,
            withdrawals_sha256=w_sha,
            on_date=on_date,
            warnings=warnings,
        )
        counts = {
            "rows": out.data_rows,
            "rows_with_errors": out.bad_rows,
            "pupils": len(out.pupil_ids),
            "missing_photos": out.missing_photos,
        }
        return log, out.errors + w_out.errors, warnings, counts

    # -- queries

    @property
    def academic_year(self) -> str:
        return academic_year_of(self.on_date or date.today())

    @property
    def years(self) -> list[str]:
        return sorted({r.academic_year for r in self.rows})

    def rows_in_year(self, on_date: date) -> list[ConsentRow]:
        """The rows for the academic year containing ``on_date``."""
        year = academic_year_of(on_date)
        return [r for r in self.rows if r.academic_year == year]

    def year_warning(self, on_date: date) -> str | None:
        """A warning when the log has no row for the academic year of ``on_date`` (every face
        is then blurred: typically September, before this year's MIS export), else None."""
        if self.rows_in_year(on_date):
            return None
        return (
            f"{self.path}: no rows for academic year {academic_year_of(on_date)} — every face "
            "will be blurred (export this year's consent log)"
        )

    def row(self, pupil_id: str, on_date: date) -> ConsentRow | None:
        """The pupil's row for the academic year containing ``on_date``."""
        return self._by_key.get((pupil_id, academic_year_of(on_date)))

    def rows_for(self, pupil_id: str) -> list[ConsentRow]:
        return [r for r in self.rows if r.pupil_id == pupil_id]

    def withdrawn_from(self, pupil_id: str, on_date: date) -> date | None:
        """Earliest withdrawal in force on ``on_date`` (row column or withdrawals file)."""
        dates = [w.withdrawn_on for w in self.withdrawals if w.pupil_id == pupil_id]
        row = self.row(pupil_id, on_date)
        if row and row.withdrawn_on:
            dates.append(row.withdrawn_on)
        # A withdrawal counts from its date on, in later years too: to re-consent, the Data Lead
        # removes the line from the withdrawals file.
        due = [d for d in dates if d <= on_date]
        return min(due) if due else None

    def status(self, pupil_id: str, media: Media, purpose: Purpose, on_date: date) -> Reason:
        """``Reason.CONSENT`` when this use is allowed on this date, else why not."""
        if pupil_id not in self._ids:
            return Reason.NOT_ON_LOG
        row = self.row(pupil_id, on_date)
        if row is None:
            return Reason.CONSENT_OTHER_YEAR
        if self.withdrawn_from(pupil_id, on_date):
            return Reason.WITHDRAWN
        if row.consents.get(consent_column(media, purpose), False):
            return Reason.CONSENT
        return Reason.NO_CONSENT

    def biometric_allowed(self, pupil_id: str, on_date: date) -> bool:
        """Written biometric consent for this academic year, and no withdrawal recorded.

        Stricter than ``status``: any withdrawal (whatever its date) stops enrolment and
        matching at once, as ``withdraw`` purges the embeddings at once.
        """
        row = self.row(pupil_id, on_date)
        if row is None or not row.biometric or row.withdrawn_on:
            return False
        return not any(w.pupil_id == pupil_id for w in self.withdrawals)

    def biometric_pupils(self, on_date: date) -> list[ConsentRow]:
        """Rows of pupils who may be enrolled and matched on ``on_date``."""
        year = academic_year_of(on_date)
        return [
            r
            for r in self.rows
            if r.academic_year == year and self.biometric_allowed(r.pupil_id, on_date)
        ]

    def roster(self, on_date: date | None = None) -> list[Pupil]:
        """Every pupil's names, for redacting names in text (whatever the consent).

        Rows of the year of ``on_date`` come first; names from other years are included too,
        since a name is redacted whoever it belongs to.
        """
        year = academic_year_of(on_date or self.on_date or date.today())
        ordered = sorted(self.rows, key=lambda r: (r.academic_year != year, r.line))
        seen: set[Pupil] = set()
        out: list[Pupil] = []
        for r in ordered:
            if r.pupil not in seen:
                seen.add(r.pupil)
                out.append(r.pupil)
        return out

    def summary(self) -> dict[str, Any]:
        by_year: dict[str, dict[str, int]] = {}
        for year in self.years:
            rows = [r for r in self.rows if r.academic_year == year]
            counts: Counter[str] = Counter({"pupils": len(rows)})
            for col in CONSENT_COLUMNS:
                counts[col] = sum(1 for r in rows if r.consents.get(col))
            # Withdrawn in the year: the row's own column, or the withdrawals file up to the
            # year's end (as ``status`` judges: a withdrawal also holds in later years).
            last_day = date(int(year[:4]) + 1, 8, 31)
            counts["withdrawn"] = sum(
                1
                for r in rows
                if r.withdrawn_on
                or any(
                    w.pupil_id == r.pupil_id and w.withdrawn_on <= last_day
                    for w in self.withdrawals
                )
            )
            by_year[year] = dict(counts)
        return {
            "rows": len(self.rows),
            "pupils": len(self._ids),
            "years": self.years,
            "by_year": by_year,
            "biometric_consents": sum(1 for r in self.rows if r.biometric),
            "withdrawals": len(self.withdrawals),
            "missing_photos": 0,  # a missing photo is an error: ``validate`` counts them
            "sha256": self.sha256,
        }

    def __repr__(self) -> str:
        return f"ConsentLog({str(self.path)!r}, rows={len(self.rows)}, sha256={self.sha256[:12]})"


# ----------------------------------------------------------------------------- withdrawals


def record_withdrawal(log_path: str | Path, pupil_id: str, on_date: date) -> Path:
    """Append a withdrawal to the withdrawals file beside the log (created 0600 if new)."""
    path = withdrawals_path(log_path)
    new = not path.exists()
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        if new:
            path.touch(mode=0o600)
        with path.open("a", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(WITHDRAWAL_COLUMNS)
            writer.writerow([pupil_id, on_date.isoformat(), stamp])
            f.flush()
    except OSError as err:
        raise ConsentError(f"{path}: cannot record withdrawal: {err.strerror or err}") from None
    return path
