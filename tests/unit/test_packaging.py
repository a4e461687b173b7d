"""The package data list in pyproject.toml matches the files that exist, both ways."""

from __future__ import annotations

import tomllib
from pathlib import Path

import anonymiser

ROOT = Path(__file__).parents[2]
PACKAGE = Path(anonymiser.__file__).parent


def _package_data() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(project["tool"]["setuptools"]["package-data"]["anonymiser"])


def test_every_package_data_pattern_matches_a_file() -> None:
    for pattern in _package_data():
        assert [p for p in PACKAGE.glob(pattern) if p.is_file()], f"{pattern} matches nothing"


def test_every_data_file_is_in_the_package_data() -> None:
    """A file the code needs but the list forgets would be missing from the wheel only."""
    shipped = {p for pattern in _package_data() for p in PACKAGE.glob(pattern)}
    for path in PACKAGE.rglob("*"):
        if (
            path.is_file()
            and path.suffix not in (".py", ".pyc")
            and "__pycache__" not in path.parts
        ):
            assert path in shipped, f"{path.relative_to(PACKAGE)} is not in the package data"


def test_licence_files_exist() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), name
    assert project["license"] == "MIT"


def test_the_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    from click.testing import CliRunner

    from anonymiser.cli import main

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"anonymiser, version {version('anonymiser')}"
    assert anonymiser.__version__ == version("anonymiser")
