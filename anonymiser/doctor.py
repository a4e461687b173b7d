"""``anonymiser doctor``: is everything a run needs present and intact?

Read-only: it changes nothing (no store is created, no permission is fixed). Each check gives one
finding; a problem's message says what to do about it in the same line.
"""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import sqlite3
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from anonymiser.errors import ExitCode, ModelError
from anonymiser.models import MANIFEST, resolve_model
from anonymiser.settings import Settings

LOW_DISK = 500 * 1024**2  # below this, a batch of photos may not fit: a problem
TIGHT_DISK = 2 * 1024**3  # below this, worth a note

REINSTALL = "reinstall with: pip install --force-reinstall anonymiser"
# Import name -> what it is for. All are dependencies of anonymiser, so pip installs them.
PACKAGES = {
    "numpy": "arrays",
    "cv2": "image resizing (opencv-python-headless)",
    "PIL": "reading and writing photos (pillow)",
    "pillow_heif": "HEIC/HEIF photos (pillow-heif)",
    "onnxruntime": "running the face and text models",
    "rapidocr": "reading text (rapidocr)",
    "rapidfuzz": "matching names (rapidfuzz)",
    "dlib": "face matching for consenting pupils (dlib-bin)",
    "av": "videos (PyAV, with its own FFmpeg)",
    "watchdog": "the watched folder's file system events",
    "jinja2": "the review page",
    "flask": "the review app (anonymiser review serve)",
    "waitress": "serving the review app",
    "argon2": "the review app's passwords (argon2-cffi)",
}
# External programs: none is needed to anonymise.
TOOLS = {
    "exiftool": (
        ("exiftool",),
        "only the test suite uses it (an independent metadata reader); "
        "Debian: apt install libimage-exiftool-perl",
    ),
    "chromium": (
        ("chromium", "chromium-browser", "google-chrome"),
        "only the test suite uses it (the review page in a real browser); Debian: apt install chromium",
    ),
    "ffmpeg": (
        ("ffmpeg",),
        "videos use PyAV's own FFmpeg; only the test suite uses the command; "
        "Debian: apt install ffmpeg",
    ),
}


class Severity(StrEnum):
    OK = "ok"
    NOTE = "note"  # worth knowing, nothing to fix
    OPTIONAL = "optional"  # an optional tool is missing
    PROBLEM = "problem"  # a run would fail or be unsafe: the message says what to do


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    severity: Severity
    message: str
    exit_code: ExitCode = ExitCode.OK  # what a problem makes ``doctor`` exit with

    def __str__(self) -> str:
        return f"{self.severity.value:9s}{self.check}: {self.message}"


@dataclass(frozen=True, slots=True)
class DoctorReport:
    findings: tuple[Finding, ...]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.PROBLEM]

    @property
    def exit_code(self) -> ExitCode:
        """0 ready; 4 a model missing or altered; 5 the consent log invalid; 1 another problem."""
        codes = {f.exit_code for f in self.problems}
        for code in (ExitCode.MODEL_MISSING, ExitCode.CONSENT_INVALID):
            if code in codes:
                return code
        return ExitCode.SOME_FAILED if codes else ExitCode.OK

    def format(self) -> str:
        return "\n".join(str(f) for f in self.findings)


def diagnose(
    settings: Settings | None = None,
    *,
    consent: Path | None = None,
    watch_root: Path | None = None,
    output: Path | None = None,
) -> DoctorReport:
    """Check models, runtimes, tools, the consent log, the embeddings store, the watched folder
    and free disk space. Never raises for what it finds."""
    settings = settings or Settings()
    findings = [
        _platform(),
        *_models(),
        _onnxruntime(),
        *_packages(),
        *_tools(),
        *(_consent(consent, settings) if consent else []),
        _store(settings.store_path, output),
        *(_watched_folder(watch_root) if watch_root else []),
        *_disk([p for p in (output, watch_root, settings.store_path.parent) if p is not None]),
    ]
    return DoctorReport(tuple(findings))


def _platform() -> Finding:
    system = f"{platform.system()} {platform.machine()}"
    python = platform.python_version()
    tested = sys.platform.startswith("linux") and platform.machine() == "x86_64"
    note = "tested" if tested else "not tested by us (see README: supported platforms)"
    severity = Severity.OK if tested else Severity.NOTE
    return Finding("platform", severity, f"Python {python} on {system}: {note}")


def _models() -> Iterator[Finding]:
    for spec in MANIFEST.values():
        try:
            path = resolve_model(spec.name)
        except ModelError as err:
            check = f"model {spec.name}"
            message = str(err).removeprefix(f"{check}: ")
            yield Finding(check, Severity.PROBLEM, message, ExitCode.MODEL_MISSING)
            continue
        yield Finding(
            f"model {spec.name}",
            Severity.OK,
            f"{path} (sha256 {spec.sha256[:8]}… as expected; {spec.licence})",
        )


def _onnxruntime() -> Finding:
    """Providers, and the face model actually loaded and run once on a tiny image."""
    try:
        import numpy as np
        import onnxruntime as ort

        providers = ort.get_available_providers()
        if "CPUExecutionProvider" not in providers:
            return Finding(
                "onnxruntime",
                Severity.PROBLEM,
                f"no CPUExecutionProvider (have {', '.join(providers)}); "
                "install the standard build: pip install --force-reinstall onnxruntime",
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(resolve_model("centerface")), options, providers=["CPUExecutionProvider"]
        )
        session.run(None, {"input.1": np.zeros((1, 3, 32, 32), np.float32)})
    except ModelError:
        return Finding("onnxruntime", Severity.NOTE, "not tried: the face model is missing")
    except Exception as err:
        return Finding(
            "onnxruntime",
            Severity.PROBLEM,
            f"cannot run the face model ({type(err).__name__}: {err}); {REINSTALL}",
        )
    others = [p for p in providers if p != "CPUExecutionProvider"]
    extra = f"; also available (see --device): {', '.join(others)}" if others else ""
    return Finding(
        "onnxruntime",
        Severity.OK,
        f"{ort.__version__}: the face model runs on CPUExecutionProvider{extra}",
    )


def _packages() -> Iterator[Finding]:
    broken = []
    for name, purpose in PACKAGES.items():
        try:
            importlib.import_module(name)
        except Exception as err:  # ImportError, or a broken binary raising anything
            broken.append(name)
            yield Finding(
                f"package {name}",
                Severity.PROBLEM,
                f"cannot be imported ({type(err).__name__}: {err}); needed for {purpose}; "
                f"{REINSTALL}",
            )
    if not broken:
        yield Finding("packages", Severity.OK, f"{len(PACKAGES)} runtime packages import")


def _tools() -> Iterator[Finding]:
    for name, (commands, purpose) in TOOLS.items():
        found = next((p for c in commands if (p := shutil.which(c))), None)
        if found:
            yield Finding(name, Severity.OK, found)
        else:
            yield Finding(name, Severity.OPTIONAL, f"not found; not needed to anonymise: {purpose}")


def _consent(path: Path, settings: Settings) -> Iterator[Finding]:
    from anonymiser.consent import ConsentLog

    report = ConsentLog.validate(path, settings.consent_date)
    if not report.ok:
        yield Finding(
            "consent log",
            Severity.PROBLEM,
            f"{path}: {len(report.errors)} error(s), first: {report.errors[0]}; "
            f"see them all with: anonymiser consent validate {path}",
            ExitCode.CONSENT_INVALID,
        )
        return
    rows = report.summary.get("rows", 0)
    warned = f", {len(report.warnings)} warning(s)" if report.warnings else ""
    yield Finding("consent log", Severity.OK, f"{path}: valid, {rows} rows{warned}")
    log = ConsentLog.load(path, settings.consent_date)
    year_warning = log.year_warning(settings.consent_date)
    if year_warning:
        yield Finding("consent log", Severity.NOTE, year_warning)


def _store(path: Path, output: Path | None) -> Finding:
    """The embeddings store (biometric data): owner-only, outside any output folder."""
    check = "embeddings store"
    if output is not None:
        from anonymiser.errors import AnonymiserError
        from anonymiser.identify.faces import check_store_location

        try:
            check_store_location(path, [output])
        except AnonymiserError as err:
            return Finding(check, Severity.PROBLEM, str(err))
    if not path.exists():
        return Finding(
            check,
            Severity.NOTE,
            f"{path}: none yet, so nobody is recognised and every face is blurred; "
            "create it with: anonymiser enrol CONSENT.csv",
        )
    st = path.lstat()
    if not stat.S_ISREG(st.st_mode):
        return Finding(
            check, Severity.PROBLEM, f"{path}: not a plain file; remove it and enrol again"
        )
    if os.name == "posix":
        if st.st_mode & 0o077:
            return Finding(
                check,
                Severity.PROBLEM,
                f"{path}: permissions {stat.S_IMODE(st.st_mode):04o} let other users read pupils' "
                f"biometric data; fix with: chmod 600 {path}",
            )
        if st.st_uid != os.getuid():
            return Finding(
                check,
                Severity.PROBLEM,
                f"{path}: owned by another user (uid {st.st_uid}); run as that user or enrol again",
            )
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as con:
            (pupils,) = con.execute("SELECT COUNT(DISTINCT pupil_id) FROM embeddings").fetchone()
    except sqlite3.Error as err:
        return Finding(
            check, Severity.PROBLEM, f"{path}: unreadable ({err}); remove it and enrol again"
        )
    where = "owner-only (0600)" if os.name == "posix" else "permissions not checked on Windows"
    return Finding(check, Severity.OK, f"{path}: {pupils} pupil(s) enrolled, {where}")


def _watched_folder(root: Path) -> Iterator[Finding]:
    from anonymiser.watch.scanner import fs_type, is_network_fs

    check = "watched folder"
    folder = root / "incoming" if (root / "incoming").is_dir() else root
    if not root.exists():
        parent = _existing_parent(root)
        if not os.access(parent, os.W_OK):
            yield Finding(
                check, Severity.PROBLEM, f"{root}: cannot be created ({parent} is not writable)"
            )
            return
        yield Finding(check, Severity.NOTE, f"{root}: does not exist yet; the watcher creates it")
        folder = parent
    elif not os.access(root, os.W_OK | os.X_OK):
        yield Finding(
            check,
            Severity.PROBLEM,
            f"{root}: not writable by this user; the watcher needs to write there",
        )
        return
    kind = fs_type(folder)
    on = f" ({kind})" if kind else ""
    if is_network_fs(folder):
        yield Finding(
            check,
            Severity.NOTE,
            f"{root}{on}: a network share, so the watcher polls every 5 s (file system events do "
            "not cross the network); run it on the file server itself if you can",
        )
    else:
        yield _events(folder, root, on)
    if sys.platform.startswith("linux"):
        yield Finding(
            "file completeness",
            Severity.OK,
            "a file still open for writing is waited for (Linux read leases, on local disks), "
            "and it must be unchanged for --settle seconds",
        )
    else:
        yield Finding(
            "file completeness",
            Severity.NOTE,
            f"{platform.system()} has no read leases: a file counts as complete once unchanged "
            "for --settle seconds (default 5; raise it for slow copies, e.g. --settle 30)",
        )


def _events(folder: Path, root: Path, on: str) -> Finding:
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        observer = Observer()
        observer.schedule(FileSystemEventHandler(), str(folder), recursive=True)
        observer.start()
        observer.stop()
        observer.join(timeout=5)
    except Exception as err:  # no inotify, watch limit reached, ...
        return Finding(
            "watched folder",
            Severity.NOTE,
            f"{root}{on}: file system events unavailable ({err}); the watcher polls every 5 s",
        )
    return Finding(
        "watched folder",
        Severity.OK,
        f"{root}{on}: file system events work ({type(observer).__name__})",
    )


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _disk(paths: Iterable[Path]) -> Iterator[Finding]:
    seen: set[int] = set()
    for p in paths:
        folder = _existing_parent(p)
        try:
            device = folder.stat().st_dev
            free = shutil.disk_usage(folder).free
        except OSError as err:
            yield Finding("disk space", Severity.NOTE, f"{folder}: cannot tell ({err.strerror})")
            continue
        if device in seen:
            continue
        seen.add(device)
        gb = f"{free / 1024**3:.1f} GB free on {folder}"
        if free < LOW_DISK:
            yield Finding(
                "disk space",
                Severity.PROBLEM,
                f"only {gb}: safe copies need about as much room as the photos; free some space",
            )
        elif free < TIGHT_DISK:
            yield Finding("disk space", Severity.NOTE, f"{gb}: enough for a small batch only")
        else:
            yield Finding("disk space", Severity.OK, gb)


__all__ = ["DoctorReport", "Finding", "Severity", "diagnose"]
