"""Consent log: parsing, validation (line-numbered), year boundaries, withdrawals."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from anonymiser.consent import (
    ConsentLog,
    academic_year_of,
    parse_academic_year,
    parse_date,
    record_withdrawal,
    withdrawals_path,
)
from anonymiser.errors import ConsentError, ExitCode
from anonymiser.results import Reason
from anonymiser.settings import Media, Purpose

HEADER = (
    "pupil_id,first_name,last_name,preferred_name,academic_year,images_social_media,"
    "images_website,images_marketing,video_social_media,video_website,video_marketing,"
    "biometric_matching,withdrawn_on,reference_photos"
)
SM, WEB = Purpose.SOCIAL_MEDIA, Purpose.WEBSITE
IMG, VID = Media.IMAGES, Media.VIDEO


def write(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "consent.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def good_rows() -> list[str]:
    return [
        "P1,Ann,Able,Annie,2026/27,yes,no,no,Y,n,0,yes,,",
        "P2,Ben,Bell,,2026/27,no,no,no,no,no,no,no,,",
        "P3,Cat,Cole,,2025/26,yes,yes,yes,yes,yes,yes,yes,,",
        "P4,Dan,Dale,,2026/27,TRUE,1,,false,,,no,15/01/2027,",
    ]


def problems(tmp_path: Path, *rows: str, header: str = HEADER) -> list[tuple[int, str]]:
    report = ConsentLog.validate(write(tmp_path, *rows, header=header))
    return [(p.line, p.message) for p in report.errors]


# ----------------------------------------------------------------------------- parsing helpers


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2026, 8, 31), "2025/26"),
        (date(2026, 9, 1), "2026/27"),
        (date(2027, 8, 31), "2026/27"),
        (date(2027, 1, 1), "2026/27"),
        (date(2099, 9, 1), "2099/00"),
    ],
)
def test_academic_year_boundaries(day: date, year: str) -> None:
    assert academic_year_of(day) == year


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2026/27", "2026/27"),
        ("2026/2027", "2026/27"),
        (" 2026-27 ", "2026/27"),
        ("2026/28", None),
        ("2026", None),
        ("26/27", None),
    ],
)
def test_parse_academic_year(text: str, want: str | None) -> None:
    assert parse_academic_year(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("01/09/2026", date(2026, 9, 1)),
        ("1/9/2026", date(2026, 9, 1)),
        ("2026-09-01", date(2026, 9, 1)),
        ("31.08.2027", date(2027, 8, 31)),
        ("31/02/2027", None),
        ("09/31/2026", None),  # US order is not a UK date
        ("tomorrow", None),
        ("2026/09/01", None),
    ],
)
def test_parse_date(text: str, want: date | None) -> None:
    assert parse_date(text) == want


# ----------------------------------------------------------------------------- loading


def test_good_log_loads(tmp_path: Path) -> None:
    log = ConsentLog.load(write(tmp_path, *good_rows()), on_date=date(2026, 11, 1))
    assert len(log.rows) == 4
    assert log.academic_year == "2026/27"
    assert len(log.sha256) == 64
    report = ConsentLog.validate(log.path)
    assert report.ok and not report.warnings
    assert report.summary["pupils"] == 4
    assert report.summary["by_year"]["2026/27"]["biometric_matching"] == 1
    assert "OK" in report.format()


def test_bom_quotes_semicolon_delimiter_and_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    text = (
        "\ufeffPupil ID;First Name;Last Name;Academic Year;Images Social Media\r\n"
        'P1;"Anne; Marie";"O\'Neil ""Jr""";2026/27;Yes\r\n'
        'P2;"Two\nLines";Smith;2026/27;no\r\n'
        "P3;Zoë;Ünal;2026/27;yes\r\n"
    )
    path.write_bytes(text.encode("utf-8"))
    log = ConsentLog.load(path)
    assert [r.line for r in log.rows] == [2, 3, 5]
    assert log.rows[0].first_name == "Anne; Marie"
    assert log.rows[0].last_name == 'O\'Neil "Jr"'
    assert log.rows[2].first_name == "Zoë"
    assert log.status("P1", IMG, SM, date(2026, 10, 1)) is Reason.CONSENT


def test_missing_consent_column_is_a_warning_and_means_no(tmp_path: Path) -> None:
    path = write(
        tmp_path, "P1,A,B,2026/27,yes", header="pupil_id,first_name,last_name,academic_year,x_col"
    )
    report = ConsentLog.validate(path)
    assert report.ok
    text = " ".join(str(w) for w in report.warnings)
    assert "missing consent column 'images_social_media'" in text
    assert "unknown column 'x_col'" in text
    assert ConsentLog.load(path).status("P1", IMG, SM, date(2026, 10, 1)) is Reason.NO_CONSENT


# ----------------------------------------------------------------------------- each validation error


def test_missing_required_column(tmp_path: Path) -> None:
    header = HEADER.replace("last_name,", "")
    assert problems(tmp_path, "P1,A,,2026/27,yes,no,no,no,no,no,no,,", header=header) == [
        (1, "missing required column 'last_name'")
    ]


def test_unknown_yes_no_value(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1] = "P2,Ben,Bell,,2026/27,maybe,no,no,no,no,no,no,,"
    [(line, msg)] = problems(tmp_path, *rows)
    assert line == 3
    assert "images_social_media 'maybe' is not yes/no" in msg


def test_duplicate_pupil_in_a_year_names_both_lines(tmp_path: Path) -> None:
    rows = [*good_rows(), "P1,Ann,Able,,2026/27,no,no,no,no,no,no,no,,"]
    assert problems(tmp_path, *rows) == [
        (6, "duplicate pupil_id 'P1' for 2026/27 (also on line 2)")
    ]


def test_same_pupil_in_two_years_is_fine(tmp_path: Path) -> None:
    rows = [*good_rows(), "P1,Ann,Able,,2025/26,no,no,no,no,no,no,no,,"]
    assert problems(tmp_path, *rows) == []


def test_bad_dates_and_years(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0] = "P1,Ann,Able,,2026/27,yes,no,no,no,no,no,yes,31/02/2027,"
    rows[2] = "P3,Cat,Cole,,2026-2028,yes,no,no,no,no,no,no,,"
    got = problems(tmp_path, *rows)
    assert got == [
        (2, "withdrawn_on '31/02/2027' is not a date (dd/mm/yyyy or yyyy-mm-dd)"),
        (4, "academic_year '2026-2028' is not like 2026/27"),
    ]


def test_missing_reference_photo(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0] = "P1,Ann,Able,,2026/27,yes,no,no,no,no,no,yes,,refs/ann.jpg;refs/gone.jpg"
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "ann.jpg").write_bytes(b"x")
    report = ConsentLog.validate(write(tmp_path, *rows))
    assert [(p.line, p.message.split(" (")[0]) for p in report.errors] == [
        (2, "reference photo 'refs/gone.jpg' not found")
    ]
    assert report.summary["missing_photos"] == 1


def test_empty_required_values_and_extra_fields(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0] = ",Ann,,,2026/27,yes,no,no,no,no,no,no,,"
    rows[1] = "P2,Ben,Bell,,2026/27,no,no,no,no,no,no,no,,,surplus"
    got = problems(tmp_path, *rows)
    assert got == [
        (2, "empty pupil_id"),
        (2, "empty last_name"),
        (3, "15 fields, expected 14 (as in the header)"),
    ]


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    rows = [
        "P1,Ann,Able,,2026/27,maybe,no,no,no,no,no,no,,",
        "P2,Ben,Bell,,2026/27,no,no,no,no,no,no,sure,,",
        "P3,Cat,Cole,,2026/27,no,no,no,no,no,no,no,yesterday,",
    ]
    assert [line for line, _ in problems(tmp_path, *rows)] == [2, 3, 4]


def test_empty_row_is_warned_not_silently_dropped(tmp_path: Path) -> None:
    report = ConsentLog.validate(write(tmp_path, good_rows()[0], ",,,,,,,,,,,,,"))
    assert report.ok
    assert [(w.line, w.message) for w in report.warnings] == [(3, "empty row ignored")]


def test_reference_photos_without_biometric_consent_warn(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    report = ConsentLog.validate(
        write(tmp_path, "P1,Ann,Able,,2026/27,yes,no,no,no,no,no,no,,a.jpg")
    )
    assert report.ok
    assert "without biometric consent" in report.warnings[0].message


def test_load_raises_with_all_problems_line_numbered(tmp_path: Path) -> None:
    rows = ["P1,Ann,Able,,2026/27,maybe,no,no,no,no,no,no,,", *good_rows()[1:], good_rows()[1]]
    with pytest.raises(ConsentError) as info:
        ConsentLog.load(write(tmp_path, *rows))
    msg = str(info.value)
    assert "2 problems" in msg
    assert "consent.csv:2: images_social_media" in msg
    assert "consent.csv:6: duplicate pupil_id 'P2'" in msg
    assert "\n" not in msg
    assert info.value.exit_code is ExitCode.CONSENT_INVALID


def test_unreadable_logs(tmp_path: Path) -> None:
    with pytest.raises(ConsentError, match="cannot read consent log"):
        ConsentLog.load(tmp_path / "nope.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes((HEADER + "\nP1,Zo\xeb,A,,2026/27\n").encode("latin-1"))
    with pytest.raises(ConsentError, match=r"latin1.csv:2: not UTF-8"):
        ConsentLog.load(bad)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ConsentError, match="empty file"):
        ConsentLog.load(empty)
    report = ConsentLog.validate(tmp_path / "nope.csv")
    assert not report.ok and "INVALID" in report.format()


# ----------------------------------------------------------------------------- queries


def test_status_per_media_purpose_and_year(tmp_path: Path) -> None:
    log = ConsentLog.load(write(tmp_path, *good_rows()))
    day = date(2026, 10, 1)
    assert log.status("P1", IMG, SM, day) is Reason.CONSENT
    assert log.status("P1", IMG, WEB, day) is Reason.NO_CONSENT
    assert log.status("P1", VID, SM, day) is Reason.CONSENT
    assert log.status("P1", VID, WEB, day) is Reason.NO_CONSENT
    assert log.status("P2", IMG, SM, day) is Reason.NO_CONSENT
    assert log.status("P3", IMG, SM, day) is Reason.CONSENT_OTHER_YEAR  # only a 2025/26 row
    assert log.status("P9", IMG, SM, day) is Reason.NOT_ON_LOG
    assert log.status("P1", IMG, SM, day) is Reason.CONSENT
    assert log.status("P3", IMG, SM, day) is not Reason.CONSENT


def test_year_boundary_31_august_vs_1_september(tmp_path: Path) -> None:
    log = ConsentLog.load(write(tmp_path, *good_rows()))
    # P3's consent is for 2025/26: valid up to 31 Aug 2026, not from 1 Sep 2026.
    assert log.status("P3", IMG, SM, date(2026, 8, 31)) is Reason.CONSENT
    assert log.status("P3", IMG, SM, date(2026, 9, 1)) is Reason.CONSENT_OTHER_YEAR
    # P1's consent is for 2026/27: not before 1 Sep 2026, still on 31 Aug 2027, not after.
    assert log.status("P1", IMG, SM, date(2026, 8, 31)) is Reason.CONSENT_OTHER_YEAR
    assert log.status("P1", IMG, SM, date(2026, 9, 1)) is Reason.CONSENT
    assert log.status("P1", IMG, SM, date(2027, 8, 31)) is Reason.CONSENT
    assert log.status("P1", IMG, SM, date(2027, 9, 1)) is Reason.CONSENT_OTHER_YEAR
    assert log.biometric_allowed("P3", date(2026, 8, 31))
    assert not log.biometric_allowed("P3", date(2026, 9, 1))


def test_withdrawn_on_column_counts_from_its_date(tmp_path: Path) -> None:
    log = ConsentLog.load(write(tmp_path, *good_rows()))
    assert log.status("P4", IMG, SM, date(2027, 1, 14)) is Reason.CONSENT
    assert log.status("P4", IMG, SM, date(2027, 1, 15)) is Reason.WITHDRAWN
    assert log.status("P4", IMG, WEB, date(2027, 3, 1)) is Reason.WITHDRAWN


def test_withdrawals_file_is_merged_and_counts_from_its_date(tmp_path: Path) -> None:
    path = write(tmp_path, *good_rows())
    written = record_withdrawal(path, "P1", date(2026, 12, 1))
    assert written == withdrawals_path(path) == tmp_path / "consent.withdrawals.csv"
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    log = ConsentLog.load(path)
    assert log.status("P1", IMG, SM, date(2026, 11, 30)) is Reason.CONSENT
    assert log.status("P1", IMG, SM, date(2026, 12, 1)) is Reason.WITHDRAWN
    # Biometrics stop as soon as any withdrawal is recorded, whatever its date.
    assert not log.biometric_allowed("P1", date(2026, 11, 30))
    assert [r.pupil_id for r in log.biometric_pupils(date(2026, 12, 1))] == []
    assert log.withdrawals_sha256 and log.sha256 != log.withdrawals_sha256
    # A second withdrawal appends; the earliest counts.
    record_withdrawal(path, "P1", date(2026, 10, 1))
    log = ConsentLog.load(path)
    assert log.status("P1", IMG, SM, date(2026, 10, 2)) is Reason.WITHDRAWN
    assert len(log.withdrawals) == 2


def test_withdrawal_also_holds_in_later_years(tmp_path: Path) -> None:
    rows = [*good_rows(), "P1,Ann,Able,,2027/28,yes,yes,yes,yes,yes,yes,yes,,"]
    path = write(tmp_path, *rows)
    record_withdrawal(path, "P1", date(2027, 5, 1))
    log = ConsentLog.load(path)
    assert log.status("P1", IMG, SM, date(2027, 10, 1)) is Reason.WITHDRAWN


def test_bad_withdrawals_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, *good_rows())
    withdrawals_path(path).write_text(
        "pupil_id,withdrawn_on\nP1,soon\n,2026-01-01\nP77,2026-01-01\n"
    )
    report = ConsentLog.validate(path)
    assert [(p.line, p.message) for p in report.errors] == [
        (2, "withdrawn_on 'soon' is not a date (dd/mm/yyyy or yyyy-mm-dd)"),
        (3, "empty pupil_id"),
    ]
    assert "consent.withdrawals.csv" in report.errors[0].file
    with pytest.raises(ConsentError, match=r"consent\.withdrawals\.csv:2"):
        ConsentLog.load(path)


def test_roster_has_every_name_form_and_current_year_first(tmp_path: Path) -> None:
    log = ConsentLog.load(write(tmp_path, *good_rows()))
    roster = log.roster(date(2026, 10, 1))
    assert [p.pupil_id for p in roster] == ["P1", "P2", "P4", "P3"]
    assert roster[0].preferred_name == "Annie"
    assert (roster[0].first_name, roster[0].last_name) == ("Ann", "Able")


def test_biometric_pupils_only_with_consent_for_this_year(tmp_path: Path) -> None:
    log = ConsentLog.load(write(tmp_path, *good_rows()))
    assert [r.pupil_id for r in log.biometric_pupils(date(2026, 10, 1))] == ["P1"]
    assert [r.pupil_id for r in log.biometric_pupils(date(2026, 8, 1))] == ["P3"]


# ----------------------------------------------------------------------------- validation messages


def test_short_row_is_an_error_never_read_as_consent(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1] = "P2,Ben,Bell,,2026/27,yes,yes"  # cut off after 7 of 14 fields
    path = write(tmp_path, *rows)
    assert problems(tmp_path, *rows) == [(3, "7 fields, expected 14 (as in the header)")]
    with pytest.raises(ConsentError, match=r"consent.csv:3: 7 fields, expected 14"):
        ConsentLog.load(path)


def test_trailing_unnamed_header_column_may_be_missing_in_rows(tmp_path: Path) -> None:
    header = "pupil_id,first_name,last_name,academic_year,images_social_media,"  # Excel's comma
    assert ConsentLog.validate(write(tmp_path, "P1,Ann,Able,2026/27,yes", header=header)).ok


def test_summary_counts_every_data_row_and_the_ones_with_errors(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1] = "P2,Ben,Bell,,2026/27,maybe,no,no,no,no,no,no,,"
    rows[2] = "P3,Cat"
    report = ConsentLog.validate(write(tmp_path, *rows, ""))
    assert report.summary["rows"] == 4 and report.summary["rows_with_errors"] == 2
    assert report.summary["pupils"] == 4
    text = report.format()
    assert "consent.csv: 4 rows (2 with errors, left out of the counts below), 4 pupils" in text
    assert "2026/27: pupils 2," in text  # the valid rows
    one = ConsentLog.validate(write(tmp_path, good_rows()[0])).format()
    assert "1 row, 1 pupil," in one


def test_not_utf8_names_the_file_once(tmp_path: Path) -> None:
    bad = tmp_path / "cp1252.csv"
    bad.write_bytes((HEADER + "\nP1,Zo\xeb,A,,2026/27\n").encode("cp1252"))
    report = ConsentLog.validate(bad)
    assert [str(p) for p in report.errors] == [
        f"{bad}:2: not UTF-8 text (in Excel use Save As 'CSV UTF-8')"
    ]
    assert report.format().count("cp1252.csv") == 2  # the error and the verdict
    missing = ConsentLog.validate(tmp_path / "nope.csv")
    assert [str(p) for p in missing.errors] == [
        f"{tmp_path / 'nope.csv'}: cannot read consent log: No such file or directory"
    ]


def test_unreadable_withdrawals_file_is_named_as_such(tmp_path: Path) -> None:
    path = write(tmp_path, *good_rows())
    withdrawals_path(path).write_bytes(b"pupil_id,withdrawn_on\nP1,\xff\n")
    (problem,) = ConsentLog.validate(path).errors
    assert problem.file.endswith("consent.withdrawals.csv") and problem.line == 2


def test_year_summary_counts_withdrawals_from_the_withdrawals_file(tmp_path: Path) -> None:
    path = write(tmp_path, *good_rows())
    record_withdrawal(path, "P2", date(2026, 10, 5))
    summary = ConsentLog.validate(path).summary
    assert summary["withdrawals"] == 1
    assert summary["by_year"]["2026/27"]["withdrawn"] == 2  # P2 (file) and P4 (column)
    assert summary["by_year"]["2025/26"]["withdrawn"] == 0  # P3 not withdrawn; P2 not that year
    record_withdrawal(path, "P3", date(2026, 3, 1))
    assert ConsentLog.validate(path).summary["by_year"]["2025/26"]["withdrawn"] == 1


def test_year_warning_when_the_log_has_no_rows_for_the_year(tmp_path: Path) -> None:
    log = ConsentLog.load(write(tmp_path, *good_rows()))
    assert log.year_warning(date(2026, 10, 1)) is None
    assert log.year_warning(date(2026, 8, 31)) is None  # 2025/26 has P3
    warning = log.year_warning(date(2027, 9, 1))
    assert warning == (
        f"{log.path}: no rows for academic year 2027/28 — every face will be blurred "
        "(export this year's consent log)"
    )
    assert [r.pupil_id for r in log.rows_in_year(date(2026, 10, 1))] == ["P1", "P2", "P4"]
