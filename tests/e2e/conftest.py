"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

HEADER = "pupil_id,first_name,last_name,academic_year,images_social_media,biometric_matching"


@pytest.fixture
def csv_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid two-pupil consent log for 2026/27 (P1 consents, P2 does not); private home."""
    monkeypatch.setenv("ANONYMISER_HOME", str(tmp_path / "home"))
    path = tmp_path / "consent.csv"
    path.write_text(f"{HEADER}\nP1,Ann,Able,2026/27,yes,no\nP2,Ben,Bell,2026/27,no,no\n")
    return path
