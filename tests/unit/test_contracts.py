"""Typed contracts between modules: settings sections, results read back from reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anonymiser import report
from anonymiser.errors import SettingsError
from anonymiser.results import (
    Action,
    BatchResult,
    Box,
    ImageResult,
    Intake,
    Kind,
    Reason,
    Region,
    Status,
    TrackReport,
    VideoReport,
)
from anonymiser.settings import CheckSettings, OcrSettings, Settings
from anonymiser.watch.journal import Journal, JournalState


def test_settings_sections_are_validated_and_load_from_toml(tmp_path: Path) -> None:
    assert Settings().ocr == OcrSettings() and Settings().check.confirm_score == 0.4
    with pytest.raises(SettingsError, match=r"ocr\.overlap"):
        OcrSettings(tile=256, overlap=400)
    with pytest.raises(SettingsError, match=r"check\.confirm_score"):
        CheckSettings(confirm_score=0.0)
    toml = tmp_path / "s.toml"
    toml.write_text("[anonymiser]\npurpose = 'website'\n[anonymiser.ocr]\ntile = 1024\n")
    loaded = Settings.from_toml(toml)
    assert loaded.ocr == OcrSettings(tile=1024) and loaded.purpose == "website"
    toml.write_text("[anonymiser.ocr]\ntiles = 1024\n")
    with pytest.raises(SettingsError, match="tiles"):
        Settings.from_toml(toml)


def _entries() -> tuple[ImageResult, ...]:
    kept = Region(
        Kind.FACE, Box(1, 2, 30, 40), 0.9, Action.KEPT, Reason.CONSENT, "P1", "centerface"
    )
    name = Region(Kind.TEXT, Box(5, 5, 50, 9), 0.8, Action.BLURRED, Reason.PUPIL_NAME, "P2",
                  "rapidocr", "name")  # fmt: skip
    track = TrackReport(3, 0, 9, "P1", Action.KEPT, Reason.CONSENT, ((2, 5, "P1"),))
    video = VideoReport(10, 25.0, 0.4, 90, "none", 1, 0.2, 5, (track,))
    return (
        ImageResult("in/a.jpg", "out/a.jpg", Status.OK, 64, 48, True, ("exif",), (kept, name)),
        ImageResult("in/v.mov", "out/v.mp4", Status.OK, 64, 48, regions=(kept,), video=video),
        ImageResult(
            "in/b.jpg",
            None,
            Status.FAILED,
            error="in/b.jpg: verification failed",
            held_for_review="out-review/b.jpg",
        ),
        ImageResult(
            "incoming/c.jpg",
            "ready/c.jpg",
            Status.OK,
            intake=Intake("originals/c.jpg", "ab" * 32, "2026-10-01T09:00:00"),
        ),
    )


def test_report_entries_read_back_as_they_were_written(tmp_path: Path) -> None:
    batch = BatchResult(_entries())
    path = tmp_path / "run-report.json"
    written = report.write_report(path, batch, Settings())
    assert written["images"][1]["video"]["tracks"][0]["sharp_frames"] == [[2, 5, "P1"]]
    assert set(written["images"][3]) >= {"original", "consent_sha256", "received"}
    loaded = report.load(path)
    assert loaded.images == batch.images
    assert [i.as_report() for i in loaded.images] == written["images"]


def test_report_load_says_what_is_wrong(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(report.NotAReport):
        report.load(other)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"images": [{"source": "x"}]}))
    with pytest.raises(report.ReportError, match=r"broken\.json: cannot read report"):
        report.load(broken)


def test_journal_rows_carry_their_state_as_an_enum(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        row = journal.add("a.jpg", 3, "ab" * 32, "")
        assert row.state is JournalState.SEEN
        journal.start(row.id, "a.jpg")
        assert journal.get(row.id).state is JournalState.PROCESSING
        assert journal.counts() == {"seen": 0, "processing": 1, "done": 0, "failed": 0}
