"""The hot folder with a real watcher process (real models) on a temp folder."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.watch_fakes import journal_rows

DATA = Path(__file__).resolve().parents[1] / "data" / "faces" / "2008_001322.jpg"
# 128 px crops, each around one face of the source photo
CROPS = [(78, 136), (199, 185), (325, 136)]
TEMP_NAMES = ["~$IMG 9.jpg", "IMG 8.jpg.part", "IMG 7.jpg.crdownload", "x.tmp", ".DS_Store",
              "Thumbs.db", "._IMG 1.jpg", ".hidden.jpg"]  # fmt: skip


def photo(n: int) -> bytes:
    """A small distinct JPEG with one face."""
    x, y = CROPS[n % len(CROPS)]
    im = Image.open(DATA).convert("RGB").crop((x, y, x + 128, y + 128))
    if n // len(CROPS) % 2:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    im = im.rotate(n // (2 * len(CROPS)) * 3)  # more distinct contents
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def command() -> list[str]:
    script = Path(sys.executable).with_name("anonymiser")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from anonymiser.cli import main; main()"]


class Running:
    def __init__(self, root: Path, log: Path, proc: subprocess.Popen[bytes]) -> None:
        self.root, self.log, self.proc = root, log, proc

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []
    env = {**os.environ, "ANONYMISER_HOME": str(tmp_path / "home")}

    def start(*args: str) -> Running:
        root = tmp_path / "root"
        log = tmp_path / f"stderr-{len(started)}.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [*command(), "watch", str(root), "--settle", "0.5", *args],
                stdout=subprocess.DEVNULL, stderr=err, env=env,
            )  # fmt: skip
        run = Running(root, log, proc)
        started.append(run)
        wait_for(lambda: "watching" in run.text() or proc.poll() is not None, 60)
        assert proc.poll() is None, run.text()
        return run

    yield start
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def wait_for(cond: Callable[[], bool], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def decodes(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.load()
        return im.size


def test_drop_files_and_folders_with_events(
    watcher: Callable[..., Running], tmp_path: Path
) -> None:
    run = watcher()
    root = run.root
    inc = root / "incoming"
    # one by one: renamed in from elsewhere on the same disk, then copied in
    outside = tmp_path / "staging"
    outside.mkdir()
    (outside / "first photo.jpg").write_bytes(photo(0))
    os.rename(outside / "first photo.jpg", inc / "first photo.jpg")
    wait_for(lambda: (root / "ready" / "first photo.jpg").exists())
    (inc / "second.jpg").write_bytes(photo(1))
    for name in TEMP_NAMES:
        (inc / name).write_bytes(b"temporary")
    # a whole nested folder: unicode, spaces, the same name in two folders, one corrupt file
    trip = outside / "Sports Day – Année 5"
    (trip / "Class 1").mkdir(parents=True)
    (trip / "Class 2").mkdir()
    (trip / "Class 1" / "IMG 001.jpg").write_bytes(photo(2))
    (trip / "Class 2" / "IMG 001.jpg").write_bytes(photo(3))
    (trip / "naïve ☀.jpg").write_bytes(photo(4))
    (trip / "broken.jpg").write_bytes(photo(5)[:700])
    shutil.copytree(trip, inc / trip.name)
    ready = root / "ready"
    expected = [
        "Sports Day – Année 5/Class 1/IMG 001.jpg",
        "Sports Day – Année 5/Class 2/IMG 001.jpg",
        "Sports Day – Année 5/naïve ☀.jpg",
        "first photo.jpg",
        "second.jpg",
    ]

    def finished() -> bool:
        return all((ready / f).exists() for f in expected) and any(
            (root / "ready" / "reports").glob("* Sports Day – Année 5.json")
        )

    wait_for(finished)
    status = subprocess.run(
        [*command(), "watch", str(root), "--status"], capture_output=True, text=True
    )
    assert status.returncode == 0 and "running (pid" in status.stdout
    assert run.stop() == 0
    outputs = [f for f in files(ready) if not f.startswith("reports/")]
    assert outputs == expected
    assert all(decodes(ready / f) == (128, 128) for f in outputs)
    assert (root / "failed" / "Sports Day – Année 5" / "broken.jpg").exists()
    reason = (root / "failed" / "Sports Day – Année 5" / "broken.jpg.txt").read_text()
    assert "NOT made safe" in reason and "broken.jpg" in reason
    assert files(inc) == sorted(TEMP_NAMES)  # temp and system files left alone
    assert files(root / "originals") == sorted(expected)
    assert (root / "originals" / "Sports Day – Année 5/Class 2/IMG 001.jpg").read_bytes() == photo(
        3
    )
    report_path = next((ready / "reports").glob("* Sports Day – Année 5.json"))
    report = json.loads(report_path.read_text())
    assert report["summary"]["images"] == 4 and report["summary"]["failed"] == 1
    assert report["summary"]["faces_blurred"] >= 3
    rows = journal_rows(root)
    assert len(rows) == 6 and all(
        attempts == 1 and done == 1 for _, attempts, done in rows.values()
    )
    assert "done -> ready/first photo.jpg" in run.text()


def test_polling_mode_and_slow_writers(watcher: Callable[..., Running]) -> None:
    run = watcher("--poll", "0.3")
    assert "polling every 0.3 s" in run.text()  # no file system events in this mode
    inc = run.root / "incoming"
    held, reopened = photo(6), photo(7)

    def write_held_open() -> None:
        # pauses longer than --settle: only the open-for-writing check can tell
        with open(inc / "held open.jpg", "wb") as f:
            for i in range(0, len(held), len(held) // 5 + 1):
                f.write(held[i : i + len(held) // 5 + 1])
                f.flush()
                time.sleep(0.8)

    def write_reopening() -> None:
        # closed between chunks; short pauses, so the settle time protects it
        step = len(reopened) // 20 + 1
        for i in range(0, len(reopened), step):
            with open(inc / "reopened.jpg", "ab") as f:
                f.write(reopened[i : i + step])
            time.sleep(0.1)

    threads = [threading.Thread(target=write_held_open), threading.Thread(target=write_reopening)]
    for t in threads:
        t.start()
    (inc / "Trip" / "sub dir").mkdir(parents=True)
    (inc / "Trip" / "sub dir" / "a.jpg").write_bytes(photo(8))
    (inc / "Trip" / "b.jpg.part").write_bytes(photo(9))  # a download in progress
    for t in threads:
        t.join()
    ready = run.root / "ready"
    wait_for(
        lambda: all(
            (ready / f).exists() for f in ("held open.jpg", "reopened.jpg", "Trip/sub dir/a.jpg")
        )
    )
    assert (inc / "Trip" / "b.jpg.part").exists()  # ignored while it has a temp name
    os.rename(inc / "Trip" / "b.jpg.part", inc / "Trip" / "b.jpg")  # download finished
    wait_for(lambda: (ready / "Trip" / "b.jpg").exists())
    assert run.stop() == 0
    for name, data in (("held open.jpg", held), ("reopened.jpg", reopened)):
        assert decodes(ready / name) == (128, 128)
        original = run.root / "originals" / name
        assert hashlib.sha256(original.read_bytes()).digest() == hashlib.sha256(data).digest()
    rows = journal_rows(run.root)
    assert rows["held open.jpg"] == ("done", 1, 1)  # processed once, after completion
    assert rows["reopened.jpg"] == ("done", 1, 1)
    assert not list((run.root / "failed").rglob("*"))
