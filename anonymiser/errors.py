"""Exceptions and exit codes shared by the CLI, the watcher and the library.

The exit codes are a stable interface: scripts may rely on them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    SOME_FAILED = 1  # at least one input could not be processed; the rest were
    USAGE = 2  # bad command line (click uses 2 as well)
    INPUT = 3  # no usable input at all
    MODEL_MISSING = 4  # a model file is missing or altered
    CONSENT_INVALID = 5  # the consent log cannot be read or is invalid
    FINDINGS = 6  # `check` found something identifying in an output
    STORAGE = 7  # the embeddings store, the audit journal or the watcher's journal is unusable
    INTERRUPTED = 130
    INTERNAL = 70


class AnonymiserError(Exception):
    """Base class. ``str(err)`` is a one-line message naming the file and the problem."""

    exit_code: ExitCode = ExitCode.INTERNAL


class MediaError(AnonymiserError):
    """An input cannot be loaded or an output cannot be written."""

    exit_code = ExitCode.INPUT


class UnsupportedMediaError(MediaError):
    """The file is readable but of a kind we do not process (e.g. animated)."""


class ModelError(AnonymiserError):
    """A model file is missing, altered or cannot be loaded."""

    exit_code = ExitCode.MODEL_MISSING


class ConsentError(AnonymiserError):
    """The consent log is unreadable or invalid: processing must stop (default deny)."""

    exit_code = ExitCode.CONSENT_INVALID


class StorageError(AnonymiserError):
    """One of our own files (embeddings store, audit journal, watcher journal) cannot be
    opened, read or written."""

    exit_code = ExitCode.STORAGE


class SettingsError(AnonymiserError):
    """A setting or option value is invalid."""

    exit_code = ExitCode.USAGE
