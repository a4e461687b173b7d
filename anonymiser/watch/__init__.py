"""Hot folder: staff drop photos into ``ROOT/incoming`` and collect safe copies from ``ROOT/ready``.

See ``docs/watch.md``. Files are anonymised by ``Anonymiser.process_file`` and recorded by the run's
own steps (``anonymiser.run``), like ``blur``.
"""

from __future__ import annotations

from anonymiser.inputs import is_ignored
from anonymiser.watch.layout import Layout
from anonymiser.watch.service import Watcher, WatchError, WatchOptions, setup_logging
from anonymiser.watch.status import format_status, status

__all__ = [
    "Layout",
    "WatchError",
    "WatchOptions",
    "Watcher",
    "format_status",
    "is_ignored",
    "setup_logging",
    "status",
]
