"""The review app's one exception (exit code 3: no usable input, like a missing file)."""

from __future__ import annotations

from anonymiser.errors import AnonymiserError, ExitCode


class ReviewError(AnonymiserError):
    """An item cannot be found, or a decision is refused (the message says why)."""

    exit_code = ExitCode.INPUT
