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
