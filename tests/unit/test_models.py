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
    spec = dataclasses.replace(models.MANIFEST["ppocr-det"], name="ppocr-x", sha256="0" * 64)
    monkeypatch.setitem(models.MANIFEST, "ppocr-x", spec)
    with pytest.raises(
        ModelError, match=r"pip install --force-reinstall rapidocr==3\.10\.0"
    ) as err:
        models.resolve_model("ppocr-x")
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


def test_centerface_ships_inside_this_package() -> None:
    """No second package to install: the face model is package data of anonymiser itself."""
    import anonymiser

    path = models.resolve_model("centerface")
    assert path.parent.parent == Path(anonymiser.__file__).parent
    assert (path.parent / "LICENSE-centerface.txt").is_file()


def test_pinned_model_packages_match_the_manifest() -> None:
    """A dependency that ships a model is pinned to the version whose hashes the manifest holds
    (a newer release with other files would make every install exit 4)."""
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    deps = set(project["project"]["dependencies"])
    for spec in models.MANIFEST.values():
        if spec.package != "anonymiser":
            assert spec.distribution in deps, spec.distribution
