"""The version, in the lowest layer: modules that print it need not import the package."""

__version__ = "0.1.0"
