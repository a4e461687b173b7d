"""Where the watcher's files are processed: in its own process (one worker), or in N worker
processes that each load the models once and take one file at a time.

The watcher stays the only writer of the journal and does every move; a worker only turns one
source into one staged output (``process_file``) and sends back the ``ImageResult``. A worker that
dies (killed for memory, a crash in a native library) fails only the file it had: the watcher sees
its process end, fails that file and starts a new worker for the next one. Workers ignore SIGINT
and SIGTERM (the watcher decides when they stop) and die with the watcher (Linux: the parent-death
signal), so none is left writing after a kill.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from anonymiser.errors import AnonymiserError
from anonymiser.results import ImageResult
from anonymiser.settings import Settings

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from anonymiser.consent import ConsentLog, Pupil
    from anonymiser.detect import FaceDetector

log = logging.getLogger("anonymiser.watch")

STOP_WAIT = 10.0  # seconds an idle worker gets to exit before it is killed


class Engine(Protocol):
    """What the watcher uses of an ``Anonymiser`` (tests give fakes through the factory)."""

    settings: Settings

    @property
    def pupils(self) -> list[Pupil]: ...

    @property
    def face_detector(self) -> FaceDetector: ...

    def warnings(self) -> list[str]: ...

    def check_models(self) -> None: ...

    def process_file(self, src: str | Path, dst: str | Path) -> ImageResult: ...


class Factory(Protocol):
    """Builds the engine for the settings and consent log (None: default deny), keeping what
    it can of the previous one (the loaded face model). Worker processes get it pickled: a
    module-level function or class."""

    def __call__(
        self, settings: Settings, consent: ConsentLog | None, previous: Engine | None
    ) -> Engine: ...


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What a worker builds its engine from; ``generation`` changes when the consent log does."""

    generation: int
    settings: Settings
    consent: ConsentLog | None


@dataclass(frozen=True, slots=True)
class Job:
    key: int  # the journal row
    src: Path
    dst: Path  # the staged output, in ``.anonymiser/work/``
    spec: EngineSpec | None  # None: the worker's engine is current


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one file went. Exactly one of ``result``, ``error`` and ``crashed`` is set."""

    key: int
    worker: int
    result: ImageResult | None = None  # what ``process_file`` returned
    error: str | None = None  # it raised instead (a bug): the file is left for a redo
    crashed: str | None = None  # the worker process died with it: the file fails


class Pool(Protocol):
    """The watcher's workers: ``free`` slots take a ``submit``; ``collect`` gives outcomes."""

    size: int

    @property
    def free(self) -> int: ...

    def start(self, spec: EngineSpec) -> None: ...

    def submit(self, key: int, src: Path, dst: Path, spec: EngineSpec) -> None: ...

    def collect(self, timeout: float) -> list[Outcome]: ...

    def close(self, *, abandon: bool = False) -> None: ...


def make_pool(factory: Factory, workers: int, threads: int) -> Pool:
    """One worker: in the watcher's own process; more: that many processes of ``threads``
    onnxruntime threads each."""
    if workers <= 1:
        return InlinePool(factory)
    return ProcessPool(factory, workers, threads)


def _error_text(err: BaseException) -> str:
    if isinstance(err, AnonymiserError):
        return str(err)
    return f"internal error: {type(err).__name__}: {err}"


class _Current:
    """A worker's engine: built from the first ``EngineSpec``, rebuilt (keeping what the factory
    keeps of the previous one) when a spec of another generation comes; ``threads`` (0: the
    spec's own) onnxruntime threads."""

    def __init__(self, factory: Factory, threads: int = 0) -> None:
        self._factory, self._threads = factory, threads
        self._engine: Engine | None = None
        self._generation = -1

    def get(self, spec: EngineSpec | None) -> Engine:
        """The engine for ``spec`` (None: the current one, which must exist)."""
        if spec is not None and (self._engine is None or spec.generation != self._generation):
            settings = (
                spec.settings.replace(threads=self._threads) if self._threads else spec.settings
            )
            self._engine = self._factory(settings, spec.consent, self._engine)
            self._generation = spec.generation
        assert self._engine is not None, "a worker's first job carries its engine spec"
        return self._engine


class InlinePool:
    """One worker, in the watcher's process: ``submit`` processes the file at once."""

    size = 1

    def __init__(self, factory: Factory) -> None:
        self._engine = _Current(factory)
        self._done: list[Outcome] = []

    @property
    def free(self) -> int:
        return 0 if self._done else 1

    def start(self, spec: EngineSpec) -> None:
        _ = self._engine.get(spec).face_detector  # load the face model once, before the first file

    def submit(self, key: int, src: Path, dst: Path, spec: EngineSpec) -> None:
        try:
            result = self._engine.get(spec).process_file(src, dst)
        except Exception as err:  # a bug: the watcher logs it and leaves the file for a redo
            log.debug("%s: process_file raised", src, exc_info=True)
            self._done.append(Outcome(key, 0, error=_error_text(err)))
        else:
            self._done.append(Outcome(key, 0, result=result))

    def collect(self, timeout: float) -> list[Outcome]:
        done, self._done = self._done, []
        return done

    def close(self, *, abandon: bool = False) -> None:
        self._done = []


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection
    job: Job | None = None
    generation: int = -1


class ProcessPool:
    """``size`` worker processes (spawned), one file each at a time."""

    def __init__(self, factory: Factory, size: int, threads: int) -> None:
        self.size = size
        self._factory = factory
        self._threads = threads
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._last: EngineSpec | None = None

    @property
    def free(self) -> int:
        return sum(1 for w in self._workers if w.job is None)

    @property
    def pids(self) -> list[int]:
        return [w.process.pid or 0 for w in self._workers]

    def _spawn(self, index: int) -> _Worker:
        mine, theirs = self._ctx.Pipe()
        level = logging.getLogger("anonymiser").getEffectiveLevel()
        process = self._ctx.Process(
            target=serve,
            args=(theirs, self._factory, self._threads, os.getpid(), index, level),
            name=f"anonymiser-worker-{index}",
            daemon=True,
        )
        process.start()
        theirs.close()
        return _Worker(index, process, mine)

    def start(self, spec: EngineSpec) -> None:
        """Start every worker and wait until each has loaded its models (a worker that cannot
        start stops the watcher here, not on every file)."""
        self._last = spec
        self._workers = [self._spawn(i) for i in range(self.size)]
        for w in self._workers:
            w.conn.send(spec)
            w.generation = spec.generation
        for w in self._workers:
            while True:
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    w.process.join(5)
                    raise AnonymiserError(
                        f"watch worker {w.index} stopped while loading the models "
                        f"({_how(w.process.exitcode)})"
                    ) from None
                if isinstance(msg, logging.LogRecord):
                    logging.getLogger(msg.name).handle(msg)
                    continue
                if isinstance(msg, BaseException):
                    raise msg
                break

    def submit(self, key: int, src: Path, dst: Path, spec: EngineSpec) -> None:
        self._last = spec
        worker = next(w for w in self._workers if w.job is None)
        if not worker.process.is_alive():  # died while idle: replace it
            worker = self._replace(worker)
        job = Job(key, src, dst, spec if worker.generation != spec.generation else None)
        try:
            worker.conn.send(job)
        except OSError:  # it died just now: a new one gets the file
            worker = self._replace(worker)
            job = Job(key, src, dst, spec)
            worker.conn.send(job)
        worker.job = job
        worker.generation = spec.generation

    def _replace(self, worker: _Worker) -> _Worker:
        with contextlib.suppress(OSError):
            worker.conn.close()
        worker.process.join(1)
        new = self._spawn(worker.index)
        self._workers[self._workers.index(worker)] = new
        return new

    def collect(self, timeout: float) -> list[Outcome]:
        """The outcomes that are ready within ``timeout`` seconds (waits for the first only)."""
        busy = [w for w in self._workers if w.job is not None]
        if not busy:
            return []
        handles: dict[Any, _Worker] = {}
        for w in busy:
            handles[w.conn] = w
            handles[w.process.sentinel] = w
        ready = {handles[h].index: handles[h] for h in wait(list(handles), timeout)}
        out = []
        for w in ready.values():
            outcome = self._read(w)
            if outcome is not None:
                out.append(outcome)
        return out

    def _read(self, w: _Worker) -> Outcome | None:
        job = w.job
        assert job is not None
        try:
            while w.conn.poll():
                msg = w.conn.recv()
                if isinstance(msg, logging.LogRecord):
                    logging.getLogger(msg.name).handle(msg)
                elif isinstance(msg, Outcome):
                    w.job = None
                    return msg
            if w.process.is_alive():
                return None
        except (EOFError, OSError):
            pass
        # the process has ended with the file: fail that file, start a new worker
        w.process.join(5)
        code = w.process.exitcode
        log.error("watch worker %d (pid %s) died: %s", w.index, w.process.pid, _how(code))
        self._replace(w)
        return Outcome(
            job.key,
            w.index,
            crashed=f"{job.src}: the worker process died while processing it ({_how(code)}); "
            "nothing was published",
        )

    def close(self, *, abandon: bool = False) -> None:
        """Stop the workers: idle ones are asked to exit; busy ones (``abandon``) are killed,
        their files stay ``processing`` in the journal and are redone on the next start."""
        for w in self._workers:
            if w.job is None and not abandon:
                with contextlib.suppress(OSError):
                    w.conn.send(None)
        for w in self._workers:
            if w.job is None and not abandon:
                w.process.join(STOP_WAIT)
            if w.process.is_alive():
                w.process.kill()
            w.process.join(5)
            with contextlib.suppress(OSError):
                w.conn.close()
        self._workers = []


def _how(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            name = signal.Signals(-code).name
            return f"killed by {name}" + (", out of memory?" if name == "SIGKILL" else "")
        return f"killed by signal {-code}"
    return f"exit code {code}"


# -- in the worker process -----------------------------------------------------------------------
class _PipeQueue:
    """What ``QueueHandler`` puts log records into: the worker's pipe to the watcher."""

    def __init__(self, conn: Connection, lock: threading.Lock) -> None:
        self._conn, self._lock = conn, lock

    def put_nowait(self, record: logging.LogRecord) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._conn.send(record)


def _follow_parent(parent: int) -> None:
    """Die with the watcher: a worker left running after a kill could still write into the staging
    folder of the next watcher (which also names each staged file uniquely)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the watcher is already gone
        os._exit(1)


def serve(
    conn: Connection, factory: Factory, threads: int, parent: int, index: int, level: int
) -> None:
    """A worker's loop: build the engine from each new ``EngineSpec`` (keeping what the factory
    keeps of the previous one), process each ``Job``, send back its ``Outcome``."""
    _follow_parent(parent)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    lock = threading.Lock()
    logger = logging.getLogger("anonymiser")
    logger.handlers = [logging.handlers.QueueHandler(_PipeQueue(conn, lock))]  # type: ignore[arg-type]
    logger.setLevel(level)
    logger.propagate = False
    current = _Current(factory, threads)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the watcher has gone
        if msg is None:
            return
        reply: object
        try:
            engine = current.get(msg if isinstance(msg, EngineSpec) else msg.spec)
            if isinstance(msg, EngineSpec):
                _ = engine.face_detector  # load the face model now, not on the first file
                reply = "ready"
            else:
                reply = Outcome(msg.key, index, result=engine.process_file(msg.src, msg.dst))
        except Exception as err:
            if isinstance(msg, EngineSpec):
                reply = err if _picklable(err) else AnonymiserError(_error_text(err))
            else:
                logger.debug("%s: process_file raised", msg.src, exc_info=True)
                reply = Outcome(msg.key, index, error=_error_text(err))
        with lock:
            conn.send(reply)


def _picklable(err: BaseException) -> bool:
    import pickle

    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return False
    return True
