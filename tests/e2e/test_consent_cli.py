"""`anonymiser consent validate/show`, `enrol` and `withdraw` through the CLI (no models needed)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from anonymiser.cli import main
from tests.e2e.conftest import HEADER


def test_validate_ok_and_invalid(csv_path: Path) -> None:
    result = CliRunner().invoke(main, ["consent", "validate", str(csv_path)])
    assert result.exit_code == 0, result.output
    assert "2 pupils" in result.output and "OK" in result.output
    csv_path.write_text(f"{HEADER}\nP1,Ann,Able,2026/27,maybe,no\nP1,Ann,Able,2026/27,no,no\n")
    result = CliRunner().invoke(main, ["consent", "validate", str(csv_path)])
    assert result.exit_code == 5
    assert "consent.csv:2: images_social_media 'maybe'" in result.output
    assert "consent.csv:3: duplicate pupil_id 'P1'" not in result.output  # line 2 was invalid
    missing = CliRunner().invoke(main, ["consent", "validate", str(csv_path.parent / "x.csv")])
    assert missing.exit_code == 5 and "cannot read consent log" in missing.output


def test_show(csv_path: Path) -> None:
    args = ["consent", "show", "P1", "--consent", str(csv_path), "--date", "2026-10-01"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["allowed"]["images/social-media"] == "consent"
    assert data["allowed"]["images/website"] == "no-consent"
    assert data["biometric_matching"] is False
    other_year = CliRunner().invoke(main, [*args[:-1], "2027-09-01"])
    assert "consent-other-year" in other_year.output
    unknown = CliRunner().invoke(main, ["consent", "show", "P9", "--consent", str(csv_path)])
    assert unknown.exit_code == 5


def test_withdraw_then_show(csv_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["withdraw", "P1", "--consent", str(csv_path), "--date", "2026-10-05"]
    )
    assert result.exit_code == 0, result.output
    assert "withdrawal from 05/10/2026 recorded" in result.output
    assert (csv_path.parent / "consent.withdrawals.csv").exists()
    show = CliRunner().invoke(
        main, ["consent", "show", "P1", "--consent", str(csv_path), "--date", "2026-10-05"]
    )
    assert "withdrawn" in show.output


def test_enrol_without_biometric_consent_creates_an_empty_private_store(csv_path: Path) -> None:
    result = CliRunner().invoke(main, ["enrol", str(csv_path), "--date", "2026-10-01"])
    assert result.exit_code == 0, result.output
    assert "0 pupils enrolled for 2026/27" in result.output
    store = csv_path.parent / "home" / "embeddings.sqlite"
    assert store.stat().st_mode & 0o777 == 0o600


def test_commands_have_help() -> None:
    for args in (["consent", "validate"], ["consent", "show"], ["enrol"], ["withdraw"]):
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output
