"""The hot-folder service: watch ``ROOT/incoming``, anonymise each complete file exactly once.

It anonymises through the library (``Anonymiser.process_file``), records through the run's audit
step (``run.record``) and writes the same report and review page as ``blur``, per batch. Files are
processed by ``settings.worker_count`` workers (``watch.workers``: in this process for one, else
one process each), each loading the models once and rebuilding its engine, keeping the loaded
face detector, when the consent log changes. This process alone writes the journal and moves
files. Per file, in this order, each step committed:

1. journal ``seen`` (path, size, sha256) -> ``processing`` with the planned output name;
2. a worker's ``process_file`` into ``.anonymiser/work/`` (atomic), then ``os.replace`` into
   ``ready/`` or ``review/`` -- same file system, so a crash leaves the old state or the new;
3. journal ``done`` (or ``failed`` after writing the ``.txt`` reason) with the original's target;
4. move the original to ``originals/`` (or ``failed/``); journal ``finished``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import logging.handlers
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from anonymiser import (
    AnonymiserError,
    BatchResult,
    ExitCode,
    ImageResult,
    Settings,
    Status,
)
from anonymiser.consent import ConsentLog, Pupil, withdrawals_path
from anonymiser.errors import SettingsError
from anonymiser.files import fsync_dir, sha256_file, write_text_atomic
from anonymiser.identify.names import RosterNameMatcher
from anonymiser.inputs import (
    NameFinder,
    carries_name,
    output_suffix,
    pseudonym,
    safe_part,
    unsupported_reason,
)
from anonymiser.pipeline import Anonymiser
from anonymiser.results import Intake
from anonymiser.run import record
from anonymiser.settings import TextMode
from anonymiser.watch.journal import Journal, JournalState, Row
from anonymiser.watch.layout import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    SHARED_DIR_MODE,
    SHARED_FILE_MODE,
    Layout,
    make_dirs,
    unique_path,
)
from anonymiser.watch.lock import try_lock
from anonymiser.watch.records import to_record, write_batch_report
from anonymiser.watch.scanner import Entry, SettleTracker, is_network_fs, walk
from anonymiser.watch.workers import Engine, EngineSpec, Factory, Outcome, Pool, make_pool

log = logging.getLogger("anonymiser.watch")

__all__ = ["Engine", "Factory", "WatchError", "WatchOptions", "Watcher", "default_factory"]

DEFAULT_POLL = 5.0  # seconds between scans when events are unavailable
SAFETY_RESCAN = 30.0  # full rescan even with events (missed events, renames on some shares)
TIDY_AGE = 120.0  # empty folders in incoming/ older than this are removed


class WatchError(SettingsError):
    """The watched folder cannot be used (unsafe layout, another watcher running)."""


def default_factory(
    settings: Settings, consent: ConsentLog | None, previous: Engine | None
) -> Engine:
    """An ``Anonymiser``; a rebuilt one keeps the previous one's face detector."""
    if previous is not None:  # keep the loaded face model
        return Anonymiser(settings, consent, face_detector=previous.face_detector)
    return Anonymiser(settings, consent)


@dataclass(frozen=True)
class WatchOptions:
    root: Path
    settings: Settings = field(default_factory=Settings)
    consent_path: Path | None = None
    poll: float | None = None  # seconds; None = file system events where they work
    settle: float = 5.0
    once: bool = False


def consent_fingerprint(path: Path) -> str:
    """Hash of the consent log and its withdrawals file (any change means reload)."""
    h = hashlib.sha256()
    for p in (path, withdrawals_path(path)):
        try:
            h.update(p.read_bytes())
        except FileNotFoundError:
            h.update(b"<missing>")
        except OSError as err:
            h.update(f"<unreadable {err}>".encode())
    return h.hexdigest()


def setup_logging(layout: Layout, verbose: int = 0) -> None:
    """Log to stderr and to a rotating, owner-only log file in ``ROOT/.anonymiser``."""
    logger = logging.getLogger("anonymiser")
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logger.propagate = False
    # watchdog logs a harmless error when stopped with events still queued
    logging.getLogger("watchdog").setLevel(logging.CRITICAL)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    for h in list(logger.handlers):
        if getattr(h, "_anonymiser_watch", False):
            logger.removeHandler(h)
    layout.state.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stderr),
        logging.handlers.RotatingFileHandler(
            layout.log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8"
        ),
    ]
    with contextlib.suppress(OSError):
        os.chmod(layout.log_file, PRIVATE_FILE_MODE)
    for h in handlers:
        h.setFormatter(fmt)
        h._anonymiser_watch = True  # type: ignore[attr-defined]
        logger.addHandler(h)


def _rel_str(rel: PurePosixPath) -> str:
    return rel.as_posix()


def _batch_of(rel: PurePosixPath) -> str:
    return rel.parts[0] if len(rel.parts) > 1 else ""


@dataclass(frozen=True, slots=True)
class InFlight:
    """A file handed to a worker, with what it is judged by (the consent log then, not now)."""

    row: Row
    entry: Entry
    output: str  # planned, under ready/ or review/
    staging: Path
    spec: EngineSpec
    pupils: tuple[Pupil, ...]  # the roster for the audit journal (the last good one)


class Watcher:
    """Watch ``ROOT/incoming`` and anonymise what arrives. ``run()`` blocks until stopped."""

    def __init__(self, options: WatchOptions, *, factory: Factory = default_factory) -> None:
        if options.settle < 0:
            raise SettingsError(f"--settle {options.settle}: must be >= 0")
        if options.poll is not None and options.poll <= 0:
            raise SettingsError(f"--poll {options.poll}: must be > 0")
        self.options = options
        self.layout = Layout.at(options.root)
        self._factory = factory
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._engine: Engine | None = None
        self._consent: ConsentLog | None = None
        self._consent_fp: str | None = None
        self._year_warning: str | None = None  # the last "no rows for this year" logged
        self._good_pupils: list[Pupil] = []
        self._names: tuple[tuple[Any, ...], NameFinder | None] = ((), None)  # roster -> matcher
        self._tracker = SettleTracker(options.settle)
        self.workers = options.settings.worker_count
        self._pool: Pool | None = None
        self._generation = 0  # of the engine spec: +1 at every consent (re)load
        self._flight: dict[int, InFlight] = {}  # journal row -> the file a worker has
        self._journal: Journal | None = None
        self._lock_fd: int | None = None
        self._poll: float | None = options.poll
        self._warned_links: set[Path] = set()
        self._stuck: set[Path] = set()
        self._last_tidy = 0.0
        self.failed_count = 0
        self.done_count = 0

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def journal(self) -> Journal:
        assert self._journal is not None, "watcher not started"
        return self._journal

    def start(self) -> None:
        """Create the layout, take the lock, open and recover the journal, load the models."""
        layout = self.layout
        layout.create()
        self._lock()
        network = is_network_fs(layout.root)
        if network:
            log.warning(
                "%s is on a network file system: journal without WAL; run the watcher on the "
                "file server itself if you can",
                layout.root,
            )
        self._journal = Journal(layout.journal, wal=not network)
        self.journal.set_meta("pid", str(os.getpid()))
        self.journal.set_meta("started", datetime.now().isoformat(timespec="seconds"))
        # the review app (anonymiser review) reads the same consent log by default
        consent = self.options.consent_path
        self.journal.set_meta("consent_path", str(consent.resolve()) if consent else "")
        redo = self.journal.recover()
        if redo:
            log.warning(
                "recovering: %d file(s) were being processed when the watcher stopped; redoing",
                redo,
            )
        self._clear_work()
        self._recover_unfinished()
        self._refresh_consent(initial=True)
        self._anon.check_models()  # a missing or altered model stops the watcher now (exit 4)
        threads = self.options.settings.worker_threads(self.workers)
        self._pool = make_pool(self._factory, self.workers, threads)
        self.journal.set_meta("workers", str(self.workers))
        try:
            self._pool.start(self._spec())  # each worker loads its models once, before any file
        except BaseException:
            self._pool.close(abandon=True)
            self._pool = None
            raise
        if self.workers > 1:
            log.info("%d worker processes, %d onnxruntime thread(s) each", self.workers, threads)
        year_warning = self._consent_year_warning()
        for warning in self._anon.warnings():
            if warning != year_warning:  # logged once, below
                log.warning("%s", warning)
        self._warn_consent_year()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close(abandon=bool(self._flight))  # in flight: redone on the next start
            self._pool = None
            self._flight.clear()
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> ExitCode:
        """Run until SIGINT/SIGTERM (or, with ``once``, until ``incoming/`` is empty)."""
        self.start()
        observer = self._start_events()
        restore = self._install_signals()
        mode = "events" if observer is not None else f"polling every {self._poll:g} s"
        log.info(
            "watching %s (%s, settle %g s)%s",
            self.layout.incoming, mode, self.options.settle, " once" if self.options.once else "",
        )  # fmt: skip
        if not sys.platform.startswith("linux"):
            log.info(
                "no read leases on this system: a file counts as complete once unchanged for "
                "%g s (--settle; raise it for slow copies)",
                self.options.settle,
            )
        try:
            self._loop(observer is not None)
            self.drain()
        except KeyboardInterrupt:
            log.warning("aborted; the file(s) in progress will be redone on the next start")
            return ExitCode.INTERRUPTED
        finally:
            restore()
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
            if self._pool is not None:  # workers stopped (killed if busy) before work/ is cleared
                self._pool.close(abandon=bool(self._flight))
            self._clear_work()
            self.close()
        log.info("stopped: %d done, %d failed in this run", self.done_count, self.failed_count)
        if self.options.once and self.failed_count:
            return ExitCode.SOME_FAILED
        return ExitCode.OK

    def _loop(self, events: bool) -> None:
        min_gap = min(0.5, max(self.options.settle / 4, 0.05))
        while not self._stop.is_set():
            self._wake.clear()
            waiting = self.cycle()
            if self.options.once and not waiting and not self._flight:
                break
            if waiting:
                timeout = max(self.options.settle / 2, 0.1)
                if self._poll is not None:
                    timeout = min(timeout, self._poll)
            else:
                timeout = SAFETY_RESCAN if events else (self._poll or DEFAULT_POLL)
            if self._flight:  # a file finishing frees a worker: scan again at once
                self._complete(self._collect(min(timeout, 1.0)))
                continue
            self._wake.wait(timeout)
            if not self._stop.is_set():
                time.sleep(min_gap)  # let a burst of events settle into one scan

    def _start_events(self) -> Any:
        if self._poll is not None:
            return None
        if is_network_fs(self.layout.incoming):
            self._poll = DEFAULT_POLL
            log.info(
                "%s is a network share: file system events do not work there", self.layout.incoming
            )
            return None
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            wake = self._wake

            class _Handler(FileSystemEventHandler):
                def on_any_event(self, event: Any) -> None:
                    wake.set()

            observer = Observer()
            observer.schedule(_Handler(), str(self.layout.incoming), recursive=True)
            observer.start()
        except Exception as err:  # no inotify, watch limit reached, ...
            self._poll = DEFAULT_POLL
            log.warning("file system events unavailable (%s): polling instead", err)
            return None
        return observer

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum: int, frame: Any) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt
            log.info("stopping after the file(s) in progress (signal again to abort them)")
            self.stop()

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for s, h in old.items():
                signal.signal(s, h)

        return restore

    def _lock(self) -> None:
        fd = os.open(self.layout.lock_file, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        if not try_lock(fd):
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WatchError(
                f"{self.layout.root}: another watcher is already running here (pid {pid})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    # -- recovery ----------------------------------------------------------------------------
    def _clear_work(self) -> None:
        """Staged outputs of an interrupted file: never valid, delete them."""
        with contextlib.suppress(FileNotFoundError):
            for p in self.layout.work.iterdir():
                if p.is_file() or p.is_symlink():
                    p.unlink(missing_ok=True)

    def _recover_unfinished(self) -> None:
        """Completed rows whose original may not have been moved: finish the move."""
        for row in self.journal.unfinished():
            src = self.layout.incoming.joinpath(*PurePosixPath(row.rel).parts)
            if not src.is_file() or src.is_symlink():
                self.journal.finish(row.id)  # moved before the crash (or removed by staff)
                continue
            try:
                same = sha256_file(src) == row.sha256
            except OSError:
                continue
            if same:
                self._move_original(row, src)

    # -- consent -----------------------------------------------------------------------------
    def _refresh_consent(self, *, initial: bool = False) -> None:
        """Reload the consent log when it (or its withdrawals file) changed. The engine built
        here gives the roster, the settings and the warnings; it never loads a model (the
        workers' engines do the processing, rebuilt from ``_spec`` on the next file)."""
        path = self.options.consent_path
        settings = self.options.settings
        if path is None:
            if self._engine is None:
                self._engine = self._factory(settings, None, None)
                self._generation += 1
            return
        fp = consent_fingerprint(path)
        if fp == self._consent_fp and self._engine is not None:
            return
        try:
            consent = ConsentLog.load(path)
        except (AnonymiserError, OSError) as err:
            if initial:
                raise
            log.error(
                "CONSENT LOG INVALID, every face is blurred and all text redacted until it is "
                "fixed: %s",
                err,
            )
            self.journal.set_meta("consent_error", f"{datetime.now():%Y-%m-%d %H:%M:%S} {err}")
            denied = (
                settings.replace(text=TextMode.ALL) if settings.text is TextMode.NAMES else settings
            )
            self._engine = self._factory(denied, None, None)
            self._consent = None
        else:
            if self._consent_fp is not None:
                log.info("consent log changed: reloaded (%s)", getattr(consent, "sha256", "")[:12])
            self._engine = self._factory(settings, consent, None)
            self._consent = consent
            self._good_pupils = list(self._anon.pupils)
            if self._journal is not None:
                self.journal.set_meta("consent_error", "")
        self._consent_fp = fp
        self._generation += 1

    def _spec(self) -> EngineSpec:
        """What the workers build their engines from now."""
        return EngineSpec(self._generation, self._anon.settings, self._consent)

    def _consent_year_warning(self) -> str | None:
        if self._consent is None:
            return None
        warning: str | None = self._consent.year_warning(self.options.settings.consent_date)
        return warning

    def _warn_consent_year(self) -> None:
        """Say once when the log has no rows for today's academic year (a long-running watcher
        crosses 1 September; the new MIS export usually comes later)."""
        warning = self._consent_year_warning()
        if warning and warning != self._year_warning:
            log.warning("%s", warning)
        self._year_warning = warning

    # -- one scan ----------------------------------------------------------------------------
    def cycle(self) -> bool:
        """Scan once and hand every settled file to a worker (waiting for a free one), finishing
        the files the workers are done with. True while files are settling or in progress."""
        self._complete(self._collect(0))
        entries, links = walk(self.layout.incoming)
        for link in links:
            if link not in self._warned_links:
                log.warning("%s: symbolic link ignored (links are never followed)", link)
                self._warned_links.add(link)
        busy = {f.entry.path for f in self._flight.values()}
        for e in self._tracker.update(entries):
            if self._stop.is_set():
                break
            self._tracker.forget(e.path)
            if e.path in busy:
                continue  # a worker has it
            while not self.pool.free and not self._stop.is_set():
                self._complete(self._collect(1.0))
            if self._stop.is_set():
                break
            with self._errors_to_log(e):
                self.handle(e)
        self._complete(self._collect(0))
        remaining, _ = walk(self.layout.incoming)
        self.flush_reports(remaining)
        live = [e for e in remaining if e.path not in self._stuck]
        if not live:
            self._tidy()
        return bool(live)

    @contextlib.contextmanager
    def _errors_to_log(self, e: Entry) -> Iterator[None]:
        """One file's error is logged and the file left where it is (the journal allows a redo);
        it never stops the service."""
        try:
            yield
        except (OSError, AnonymiserError) as err:
            log.error("%s: %s", e.rel, err)
            self._stuck.add(e.path)
        except Exception:  # a bug must not stop the service
            log.exception("%s: unexpected error", e.rel)
            self._stuck.add(e.path)

    @property
    def pool(self) -> Pool:
        assert self._pool is not None, "watcher not started"
        return self._pool

    def _collect(self, timeout: float) -> list[Outcome]:
        return self.pool.collect(timeout) if self._flight else []

    def drain(self) -> None:
        """Finish the files in progress (on stop), then write the reports that are due."""
        if self._flight:
            log.info("waiting for %d file(s) in progress", len(self._flight))
        while self._flight:
            self._complete(self._collect(1.0))
        with contextlib.suppress(OSError):
            self.flush_reports(walk(self.layout.incoming)[0])

    def handle(self, e: Entry) -> None:
        """Process one settled file (or finish what a crash interrupted)."""
        layout = self.layout
        src = e.path
        if src.is_symlink() or not layout.inside(src, layout.incoming):
            log.warning("%s: outside the incoming folder; ignored", src)
            return
        try:
            digest = sha256_file(src)
            st = src.stat(follow_symlinks=False)
        except FileNotFoundError:
            return
        if (st.st_size, st.st_mtime_ns) != (e.size, e.mtime_ns):
            return  # changed while hashing: settle again
        rel = _rel_str(e.rel)
        row = self.journal.find(rel, digest)
        if row is not None and row.state in (JournalState.DONE, JournalState.FAILED):
            if not row.finished:
                self._move_original(row, src)  # finishing after a crash
            else:
                self._duplicate(row, e)
            return
        row = row or self.journal.add(rel, e.size, digest, _batch_of(e.rel))
        self._refresh_consent()
        self._warn_consent_year()
        self._process(row, e)

    def _duplicate(self, row: Row, e: Entry) -> None:
        """The same content at the same path was already processed: keep it, do not redo."""
        done = row.state is JournalState.DONE
        where = f"{row.area}/{row.output}" if done else f"failed/ ({row.error})"
        log.info("%s: already processed earlier (same content): %s", e.rel, where)
        target = unique_path(self.layout.target(self.layout.originals, e.rel))
        self._move(e.path, target, self.layout.originals, private=True)

    def _process(self, row: Row, e: Entry) -> None:
        layout = self.layout
        src = e.path
        unsupported = unsupported_reason(src)
        if unsupported is not None:
            self._fail(row, e, unsupported, None)
            return
        if self._consent is None and self.options.consent_path is not None:
            log.error("%s: CONSENT LOG INVALID: processed on default deny (all blurred)", e.rel)
        out = row.output or self._plan_output(row, e.rel)
        self.journal.start(row.id, out)
        log.info("%s: processing", e.rel)
        # named per attempt: a worker of a killed watcher can never overwrite the next one's
        staging = layout.work / f"{row.id}-{secrets.token_hex(4)}{PurePosixPath(out).suffix}"
        spec = self._spec()
        self._flight[row.id] = InFlight(row, e, out, staging, spec, tuple(self._pupils()))
        try:
            self.pool.submit(row.id, src, staging, spec)
        except BaseException:
            del self._flight[row.id]
            raise

    def _complete(self, outcomes: list[Outcome]) -> None:
        """Publish (or fail) each file a worker is done with."""
        for outcome in outcomes:
            f = self._flight.pop(outcome.key)
            try:
                with self._errors_to_log(f.entry):
                    self._finish(f, outcome)
            finally:
                f.staging.unlink(missing_ok=True)

    def _finish(self, f: InFlight, outcome: Outcome) -> None:
        row, e = f.row, f.entry
        if outcome.crashed is not None:  # the worker died with it: fail it, the rest go on
            self._fail(row, e, outcome.crashed, None, f)
            return
        if outcome.error is not None:  # process_file raised (a bug): leave it for a redo
            log.error("%s: unexpected error: %s", e.rel, outcome.error)
            self._stuck.add(e.path)
            return
        result = outcome.result
        assert result is not None
        try:
            st = e.path.stat(follow_symlinks=False)
            changed = (st.st_size, st.st_mtime_ns) != (e.size, e.mtime_ns)
        except FileNotFoundError:
            changed = True
        if changed:
            log.warning("%s: changed while it was being processed; will redo when settled", e.rel)
            self.journal.forget(row.id)
            return
        if result.status is not Status.OK:
            self._fail(row, e, result.error or "processing failed", result, f)
            return
        self._publish(f, result)

    def _publish(self, f: InFlight, result: ImageResult) -> None:
        layout = self.layout
        row, e, out, staging = f.row, f.entry, f.output, f.staging
        area = "review" if result.needs_review else "ready"
        folder = layout.review if result.needs_review else layout.ready
        other = layout.ready if result.needs_review else layout.review
        out_rel = PurePosixPath(out)
        final = layout.target(folder, out_rel)
        layout.target(other, out_rel).unlink(missing_ok=True)  # a redo may decide differently
        make_dirs(final.parent, folder, SHARED_DIR_MODE)
        os.chmod(staging, SHARED_FILE_MODE)
        staging.replace(final)
        fsync_dir(final.parent)
        original = unique_path(layout.target(layout.originals, e.rel))
        original_rel = original.relative_to(layout.root).as_posix()
        final_rel = f"{area}/{out}"
        self._audit(result, e.path, final, f)
        report = replace(
            result,
            source=f"incoming/{row.rel}",
            output=final_rel,
            intake=self._intake(original_rel, f.spec.consent),
        )
        self.journal.done(row.id, out, area, original_rel, to_record(report))
        self.done_count += 1
        log.info(
            "%s: done -> %s (%d faces blurred, %d kept)%s",
            e.rel, final_rel, result.faces_blurred, result.faces_kept,
            " NEEDS REVIEW" if result.needs_review else "",
        )  # fmt: skip
        self._move_original(self.journal.get(row.id), e.path)

    def _fail(
        self,
        row: Row,
        e: Entry,
        error: str,
        result: ImageResult | None,
        flight: InFlight | None = None,
    ) -> None:
        """Put the original in failed/ with a reason; ``flight``: the file was processed (its
        consent log, not today's, goes in the record)."""
        layout = self.layout
        target = unique_path(layout.target(layout.failed, e.rel))
        make_dirs(target.parent, layout.failed, SHARED_DIR_MODE)
        reason = target.with_name(target.name + ".txt")
        write_text_atomic(
            reason, _reason_text(row.rel, error), mode=SHARED_FILE_MODE, what="reason"
        )
        target_rel = target.relative_to(layout.root).as_posix()
        failed = result or ImageResult(str(e.path), None, Status.FAILED, error=error)
        if result is not None and flight is not None:
            self._audit(result, e.path, None, flight)
        failed = replace(
            failed,
            source=f"incoming/{row.rel}",
            output=None,
            error=error,
            intake=self._intake(target_rel, flight.spec.consent if flight else self._consent),
        )
        self.journal.failed(row.id, error, target_rel, to_record(failed))
        self.failed_count += 1
        log.error("%s: FAILED -> %s: %s", e.rel, target_rel, error)
        self._move_original(self.journal.get(row.id), e.path)

    def _intake(self, original: str, consent: ConsentLog | None) -> Intake:
        """Where the original went, the consent log judged by, and now."""
        sha = consent.sha256 if consent is not None else None
        return Intake(original, sha, datetime.now().isoformat(timespec="seconds"))

    def _audit(self, result: ImageResult, src: Path, final: Path | None, f: InFlight) -> None:
        """Append to the shared audit journal (``anonymiser.audit``) when it is available."""
        try:
            entry = replace(result, source=str(src), output=str(final) if final else None)
            warning = record(
                BatchResult((entry,)),
                f.spec.settings,
                f.spec.consent,
                pupils=list(f.pupils) or None,  # the last good roster while the log is invalid
            )
        except Exception as err:  # the audit journal must never stop the service
            warning = str(err)
        if warning:
            log.error("audit journal: %s", warning)

    def _move_original(self, row: Row, src: Path) -> None:
        """Move the original out of incoming/ to where the journal says, then mark it finished."""
        layout = self.layout
        assert row.original is not None
        target = layout.root.joinpath(*PurePosixPath(row.original).parts)
        private = row.state is JournalState.DONE
        area = layout.originals if private else layout.failed
        if os.path.lexists(target):
            target = unique_path(target)
            self.journal.set_original(row.id, target.relative_to(layout.root).as_posix())
        self._move(src, target, area, private=private)
        self.journal.finish(row.id)

    def _move(self, src: Path, target: Path, area: Path, *, private: bool) -> None:
        if not self.layout.inside(target, area):
            raise WatchError(f"{target}: outside {area}")
        make_dirs(target.parent, area, PRIVATE_DIR_MODE if private else SHARED_DIR_MODE)
        try:
            src.rename(target)
        except OSError as err:
            if err.errno != 18:  # EXDEV: incoming/ is on another file system
                raise
            shutil.copy2(src, target)
            with open(target, "rb") as f:
                os.fsync(f.fileno())
            src.unlink()
        os.chmod(target, PRIVATE_FILE_MODE if private else SHARED_FILE_MODE)
        fsync_dir(target.parent)
        fsync_dir(src.parent)

    # -- output names ------------------------------------------------------------------------
    @property
    def _anon(self) -> Engine:
        assert self._engine is not None, "watcher not started"
        return self._engine

    def _pupils(self) -> list[Pupil]:
        return list(self._engine.pupils if self._engine is not None else []) or self._good_pupils

    def _name_finder(self) -> NameFinder | None:
        """The roster's names (the last good roster while the log is invalid), for output
        names; rebuilt only when the roster changes."""
        pupils = tuple(self._pupils())
        if pupils != self._names[0]:
            self._names = (pupils, RosterNameMatcher(pupils) if pupils else None)
        return self._names[1]

    def _safe_folder(self, folders: tuple[str, ...], row_id: int) -> str:
        """The output name of the folder ``folders`` (its path under incoming/): itself, or,
        when it carries a pupil's name, ``folder-NNNN`` (``inputs.safe_part``) numbered by the
        first file planned into it (so every file of the folder lands in the same one), else
        by ``row_id``."""
        part = folders[-1]
        names = self._name_finder()
        if not carries_name(part, names):
            return part
        earlier = self.journal.output_under(PurePosixPath(*folders).as_posix(), row_id)
        if earlier is not None:
            parts = PurePosixPath(earlier).parts
            depth = len(folders) - 1
            if len(parts) > depth + 1 and not carries_name(parts[depth], names):
                return parts[depth]
        return pseudonym("folder", row_id)

    def _plan_output(self, row: Row, rel: PurePosixPath) -> str:
        """Output path under ready/ (or review/): folders mirrored, pupils' names removed
        (``inputs.safe_part``, a file numbered by its journal row), the suffix of what is
        written, and never a name another input already has."""
        stem = safe_part(PurePosixPath(rel.name).stem, self._name_finder(), "photo", row.id)
        suffix = output_suffix(rel)
        parents = [self._safe_folder(rel.parts[: i + 1], row.id) for i in range(len(rel.parts) - 1)]
        k = 0
        while True:
            candidate = PurePosixPath(*parents, f"{stem}-{k}{suffix}" if k else stem + suffix)
            out = candidate.as_posix()
            taken = self.journal.output_taken(out, row.id) or any(
                os.path.lexists(self.layout.target(area, candidate))
                for area in (self.layout.ready, self.layout.review)
            )
            if not taken:
                return out
            k += 1

    # -- per-batch reports and tidying -------------------------------------------------------
    def flush_reports(self, remaining: list[Entry]) -> None:
        """Write a report for every batch (top-level folder, or the loose files) that has no
        file left in incoming/ and has results not yet reported."""
        busy = {_batch_of(e.rel) for e in remaining if e.path not in self._stuck}
        batches: dict[str, list[Row]] = {}
        for row in self.journal.unreported():
            if row.batch not in busy:
                batches.setdefault(row.batch, []).append(row)
        for batch, rows in batches.items():
            try:
                self._write_batch_report(batch, rows)
            except Exception as err:  # reports must never stop the service
                log.error("report for %s: %s", batch or "loose files", err)
                continue
            self.journal.mark_reported([r.id for r in rows])

    def _write_batch_report(self, batch: str, rows: list[Row]) -> Path:
        label = self._safe_folder((batch,), rows[0].id) if batch else "files"
        records = [r.report_record for r in rows if r.record]
        return write_batch_report(self.layout, label, records, self._anon.settings, self._consent)

    def _tidy(self) -> None:
        """Remove empty folders left in incoming/ (not just-created ones a copy is filling)."""
        now = time.time()
        if now - self._last_tidy < 10:
            return
        self._last_tidy = now
        for folder, _dirs, _files in os.walk(self.layout.incoming, topdown=False):
            p = Path(folder)
            if p == self.layout.incoming:
                continue
            with contextlib.suppress(OSError):  # not empty, or gone: leave it
                if not p.is_symlink() and now - p.stat().st_mtime > TIDY_AGE:
                    p.rmdir()


def _reason_text(rel: str, error: str) -> str:
    return (
        "This file was NOT made safe and NOT published.\n\n"
        f"File:    incoming/{rel}\n"
        f"When:    {datetime.now():%Y-%m-%d %H:%M}\n"
        f"Problem: {error}\n\n"
        "What to do: check that the file opens on your computer. If it is a photo or video,\n"
        "save or export it again (JPEG is safest) and drop the new copy into incoming/.\n"
        "The original is kept next to this note. Ask the Data Lead if it keeps failing.\n"
    )
