"""Text decisions through the pipeline, with a fake OCR engine and the real roster matcher."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from anonymiser import Anonymiser, Settings
from anonymiser.results import Box, Detection, Kind

CSV = (
    "pupil_id,first_name,last_name,academic_year,images_social_media,biometric_matching\n"
    "P0042,Amelia,Okafor,2026/27,no,no\n"
)


class FakeText:
    name = "fake-ocr"

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return [
            Detection(Kind.TEXT, Box(2, 2, 40, 8), 0.9, self.name, text="Amelia Okafor"),
            Detection(Kind.TEXT, Box(2, 20, 40, 8), 0.9, self.name, text="Sports Day"),
        ]


class NoFaces:
    name = "none"

    def detect(self, rgb: np.ndarray, threshold: float) -> list[Detection]:
        return []


@pytest.mark.parametrize(
    ("mode", "other"), [("names", ("kept", "not-a-name")), ("all", ("blurred", "all-text"))]
)
def test_roster_names_are_labelled_in_every_text_mode(
    tmp_path: Path, mode: str, other: tuple[str, str]
) -> None:
    from anonymiser.consent import ConsentLog

    (tmp_path / "consent.csv").write_text(CSV, encoding="utf-8")
    consent = ConsentLog.load(tmp_path / "consent.csv")
    settings = Settings(text=mode, on_date=date(2026, 10, 1))
    anon = Anonymiser(settings, consent, face_detector=NoFaces(), text_detector=FakeText())
    _, result = anon.process_array(np.zeros((40, 60, 3), np.uint8))
    name, rest = result.regions
    assert (name.action, name.reason, name.pupil_id) == ("blurred", "pupil-name", "P0042")
    assert (rest.action, rest.reason, rest.pupil_id) == (*other, None)


class MixedText:
    """OCR lines a photo of a certificate and a badge could give (one misread pupil's name)."""

    name = "fake-ocr"

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        def d(y: int, text: str, score: float = 0.97) -> Detection:
            return Detection(Kind.TEXT, Box(2, y, 50, 8), score, self.name, text=text)

        return [
            d(0, "Amelia Okafer"),  # a pupil's name, misread
            d(10, "Mrs Pearson"),  # staff: not on the roster
            d(20, "Jamie Elliott"),  # a visitor: not on the roster
            d(30, "hagee Taype-tven"),  # garbled beyond matching
            d(40, "Sports Day 2026"),
            d(50, "Year 6", 0.5),  # read unsurely
        ]


def test_off_roster_and_misread_names_are_blurred_with_typed_reasons(tmp_path: Path) -> None:
    from anonymiser.consent import ConsentLog

    (tmp_path / "consent.csv").write_text(CSV, encoding="utf-8")
    consent = ConsentLog.load(tmp_path / "consent.csv")
    anon = Anonymiser(
        Settings(on_date=date(2026, 10, 1)), consent, face_detector=NoFaces(),
        text_detector=MixedText(),
    )  # fmt: skip
    _, result = anon.process_array(np.zeros((70, 60, 3), np.uint8))
    got = [(r.action, r.reason, r.cue) for r in result.regions]
    assert got == [
        ("blurred", "pupil-name", "roster"),
        ("blurred", "personal-name", "title"),
        ("blurred", "personal-name", "name-list"),
        ("blurred", "doubtful-text", "unknown-word"),
        ("kept", "not-a-name", None),
        ("blurred", "doubtful-text", "low-confidence"),
    ]
    report = str(result.as_report())
    for text in ("Okafer", "Pearson", "Elliott", "Taype", "Sports"):
        assert text not in report  # the report never carries OCR'd text
    assert "'cue': 'title'" in report
