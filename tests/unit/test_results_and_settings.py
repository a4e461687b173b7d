from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anonymiser import ExitCode, Settings, SettingsError
from anonymiser.consent import academic_year_of
from anonymiser.results import BatchResult, Box, ImageResult, Status


def test_box_iou_and_scaling() -> None:
    a = Box(0, 0, 10, 10)
    assert a.iou(a) == 1.0
    assert a.iou(Box(20, 20, 5, 5)) == 0.0
    assert a.iou(Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert a.scaled(2.0) == Box(-5, -5, 20, 20)
    assert Box(-5, -5, 20, 20).clipped(8, 8) == Box(0, 0, 8, 8)


@given(st.integers(-100, 100), st.integers(-100, 100), st.integers(1, 200), st.integers(1, 200))
def test_box_clip_stays_inside(x: int, y: int, w: int, h: int) -> None:
    c = Box(x, y, w, h).clipped(50, 40)
    assert 0 <= c.x <= 50 and 0 <= c.y <= 40
    assert c.x2 <= 50 and c.y2 <= 40


def test_settings_accept_strings_and_reject_bad_values() -> None:
    s = Settings(purpose="website", method="pixelate")
    assert s.purpose == "website" and s.method == "pixelate"
    with pytest.raises(SettingsError, match="purpose"):
        Settings(purpose="tiktok")
    with pytest.raises(SettingsError):
        Settings(face_threshold=1.5)
    assert s.replace(workers=None).workers == s.workers
    assert s.replace(workers=3).workers == 3


def test_settings_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "a.toml"
    p.write_text('[anonymiser]\npurpose = "marketing"\non_date = "2026-09-01"\n')
    s = Settings.from_toml(p, method="fill")
    assert s.purpose == "marketing" and s.method == "fill" and s.on_date == date(2026, 9, 1)
    p.write_text("colour = 'red'\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.from_toml(p)


def test_settings_errors_name_the_toml_file(tmp_path: Path) -> None:
    p = tmp_path / "site.toml"
    p.write_text("[anonymiser]\npurpose = 'web'\n")
    with pytest.raises(SettingsError) as info:
        Settings.from_toml(p)
    assert str(info.value) == (
        f"{p}: setting purpose='web': choose one of social-media, website, marketing"
    )
    for bad in ("face_threshold = 'high'", "on_date = '01/09/2026'", "workers = '2'"):
        p.write_text(f"[anonymiser]\n{bad}\n")
        with pytest.raises(SettingsError, match=f"^{re.escape(str(p))}: invalid setting: "):
            Settings.from_toml(p)
    p.write_text("[anonymiser]\npurpose = 'website'\n")
    with pytest.raises(SettingsError, match=r"^setting method='x'"):  # an override, not the file
        Settings.from_toml(p, method="x")


def test_academic_year_boundaries() -> None:
    assert academic_year_of(date(2026, 8, 31)) == "2025/26"
    assert academic_year_of(date(2026, 9, 1)) == "2026/27"
    assert academic_year_of(date(2099, 12, 1)) == "2099/00"


def test_batch_exit_codes() -> None:
    ok = ImageResult("a", "b", Status.OK)
    bad = ImageResult("c", None, Status.FAILED, error="c: broken")
    assert BatchResult((ok,)).exit_code is ExitCode.OK
    assert BatchResult((ok, bad)).exit_code is ExitCode.SOME_FAILED
    assert BatchResult((bad,)).exit_code is ExitCode.INPUT
    assert BatchResult(()).exit_code is ExitCode.INPUT
