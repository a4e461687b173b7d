"""The version, in the lowest layer: modules that print it need not import the package."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("anonymiser")  # pyproject.toml's, as installed: one source
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
