"""Shared fixtures. Tests never need ../shared: their data lives in tests/data (see its README)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def _private_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep embeddings stores and journals out of the real home folder."""
    monkeypatch.setenv("ANONYMISER_HOME", str(tmp_path_factory.mktemp("home")))


def _model_spec_replaced(monkeypatch: pytest.MonkeyPatch, **changes: str) -> Iterator[None]:
    from anonymiser import models

    spec = dataclasses.replace(models.MANIFEST["centerface"], **changes)
    models.resolve_model.cache_clear()
    monkeypatch.setitem(models.MANIFEST, "centerface", spec)
    yield
    models.resolve_model.cache_clear()


@pytest.fixture
def broken_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The centerface file as if altered: its expected hash no longer matches."""
    yield from _model_spec_replaced(monkeypatch, sha256="0" * 64)


@pytest.fixture
def missing_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The centerface file as if deleted."""
    yield from _model_spec_replaced(monkeypatch, path="weights/gone.onnx")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def face_boxes() -> dict[str, list[list[int]]]:
    return json.loads((DATA / "faces" / "faces.json").read_text())


@pytest.fixture(scope="session")
def face_detector():
    from anonymiser.detect.faces import CenterFaceDetector

    return CenterFaceDetector(threads=2)


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def exiftool_groups(path: Path) -> dict[str, object]:
    """Every tag exiftool (an independent reader) sees in ``path``, keyed ``Group:Tag``."""
    exe = shutil.which("exiftool")
    if exe is None:
        pytest.skip("exiftool is not installed (Debian package libimage-exiftool-perl)")
    out = subprocess.run(
        [exe, "-j", "-G1", "-a", "-u", str(path)], capture_output=True, check=True, text=True
    ).stdout
    return dict(json.loads(out)[0])
