"""anonymiser: make school photos safe to publish.

Finds every face and every name-bearing text, checks identified pupils against the consent log,
and irreversibly blurs everyone whose consent does not cover this use.

>>> from anonymiser import Anonymiser, Settings, ConsentLog
>>> anon = Anonymiser(Settings(purpose="social-media"), consent=ConsentLog.load("consent.csv"))
>>> result = anon.process_file("in.jpg", "out/in.jpg")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from anonymiser._version import __version__
from anonymiser.errors import (
    AnonymiserError,
    ConsentError,
    ExitCode,
    MediaError,
    ModelError,
    SettingsError,
    UnsupportedMediaError,
)
from anonymiser.results import (
    Action,
    BatchResult,
    Box,
    ImageResult,
    Kind,
    Reason,
    Region,
    Status,
    TextCue,
)
from anonymiser.settings import Device, Media, Method, Purpose, Settings, TextMode

if TYPE_CHECKING:
    from anonymiser.consent import ConsentLog
    from anonymiser.pipeline import Anonymiser

__all__ = [
    "Action",
    "Anonymiser",
    "AnonymiserError",
    "BatchResult",
    "Box",
    "ConsentError",
    "ConsentLog",
    "Device",
    "ExitCode",
    "ImageResult",
    "Kind",
    "Media",
    "MediaError",
    "Method",
    "ModelError",
    "Purpose",
    "Reason",
    "Region",
    "Settings",
    "SettingsError",
    "Status",
    "TextCue",
    "TextMode",
    "UnsupportedMediaError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Heavy modules load on first use, so `import anonymiser` stays fast.
    if name == "Anonymiser":
        from anonymiser.pipeline import Anonymiser

        return Anonymiser
    if name == "ConsentLog":
        from anonymiser.consent import ConsentLog

        return ConsentLog
    raise AttributeError(f"module 'anonymiser' has no attribute {name!r}")
