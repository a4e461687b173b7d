"""Watcher building blocks: ignore rules, layout safety, journal, scanner, settle tracker."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

import pytest

from anonymiser.errors import SettingsError
from anonymiser.watch.journal import Journal, JournalError
from anonymiser.watch.layout import Layout, is_ignored, unique_path
from anonymiser.watch.scanner import SettleTracker, open_for_writing, walk


@pytest.mark.parametrize(
    "name",
    ["~$report.docx", "IMG_1.jpg.part", "a.crdownload", "x.tmp", ".DS_Store", "Thumbs.db",
     "._IMG_1.jpg", ".hidden.jpg", "desktop.ini", "THUMBS.DB", "photo.JPG.PART"],
)  # fmt: skip
def test_ignored_names(name: str) -> None:
    assert is_ignored(name)


@pytest.mark.parametrize("name", ["IMG_1.jpg", "école été.png", "a~b.jpg", "tmp.jpg", "part.heic"])
def test_normal_names_not_ignored(name: str) -> None:
    assert not is_ignored(name)


def test_layout_created_with_restrictive_permissions(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path / "root")
    layout.create()
    for folder in (layout.incoming, layout.ready, layout.review, layout.failed, layout.reports):
        assert folder.is_dir()
    for private in (layout.originals, layout.state, layout.work):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE(layout.ready.stat().st_mode) == 0o750


def test_layout_refuses_symlinked_folders(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "ready").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SettingsError, match="symbolic link"):
        Layout.at(root).create()
    (tmp_path / "link").symlink_to(root)
    with pytest.raises(SettingsError, match="symbolic link"):
        Layout.at(tmp_path / "link")


def test_target_refuses_traversal(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path)
    layout.create()
    assert layout.target(layout.ready, PurePosixPath("a/b.jpg")) == layout.ready / "a" / "b.jpg"
    for bad in ("../x.jpg", "a/../../x.jpg", "/etc/passwd"):
        with pytest.raises(SettingsError):
            layout.target(layout.ready, PurePosixPath(bad))


def test_unique_path(tmp_path: Path) -> None:
    p = tmp_path / "a.jpg"
    assert unique_path(p) == p
    p.write_bytes(b"x")
    assert unique_path(p) == tmp_path / "a (2).jpg"


def test_journal_lifecycle_and_recovery(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        row = j.add("Trip/a.jpg", 10, "aa", "Trip")
        assert row.state == "seen" and j.add("Trip/a.jpg", 10, "aa", "Trip").id == row.id
        j.start(row.id, "Trip/a.jpg")
        other = j.add("b.jpg", 5, "bb", "")
        j.start(other.id, "b.jpg")
        j.failed(other.id, "broken", "failed/b.jpg", {"result": {}})
        assert j.output_taken("Trip/a.jpg", other.id)
        assert not j.output_taken("Trip/a.jpg", row.id)
    with Journal(path) as j:  # "crash" and reopen
        assert j.get(row.id).state == "processing"
        assert j.recover() == 1
        again = j.get(row.id)
        assert again.state == "seen" and again.output == "Trip/a.jpg" and again.attempts == 1
        j.start(row.id, again.output)
        j.done(row.id, "Trip/a.jpg", "ready", "originals/Trip/a.jpg", {"result": {}})
        done = j.get(row.id)
        assert (done.state, done.attempts, done.completions, done.finished) == ("done", 2, 1, False)
        assert [r.id for r in j.unfinished()] == [row.id, other.id]
        j.finish(row.id)
        assert j.counts() == {"seen": 0, "processing": 0, "done": 1, "failed": 1}
        last = j.last_error()
        assert last is not None and last.error == "broken"
        j.mark_reported([row.id])
        assert [r.id for r in j.unreported()] == [other.id]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_journal_missing_for_status(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="has not run"):
        Journal(tmp_path / "none.sqlite", create=False)


def test_walk_skips_symlinks_and_ignored(tmp_path: Path) -> None:
    inc = tmp_path / "incoming"
    (inc / "Trip" / ".git").mkdir(parents=True)
    (inc / "Trip" / "a.jpg").write_bytes(b"a")
    (inc / "Trip" / ".git" / "x.jpg").write_bytes(b"x")
    (inc / "Thumbs.db").write_bytes(b"t")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "s.jpg").write_bytes(b"s")
    (inc / "link").symlink_to(outside)
    (inc / "file-link.jpg").symlink_to(outside / "s.jpg")
    files, links = walk(inc)
    assert [str(e.rel) for e in files] == ["Trip/a.jpg"]
    assert sorted(p.name for p in links) == ["file-link.jpg", "link"]


def test_settle_tracker_waits_for_stable_size_and_writers(tmp_path: Path) -> None:
    now = [0.0]
    busy = {"value": False}
    tracker = SettleTracker(2.0, clock=lambda: now[0], writer_check=lambda p: busy["value"])
    f = tmp_path / "incoming" / "a.jpg"
    f.parent.mkdir()
    f.write_bytes(b"12")
    scan = lambda: walk(tmp_path / "incoming")[0]  # noqa: E731
    assert tracker.update(scan()) == []  # first sight
    now[0] = 1.0
    assert tracker.update(scan()) == []  # not yet settle seconds
    with open(f, "ab") as fh:
        fh.write(b"34")
    now[0] = 2.5
    assert tracker.update(scan()) == []  # grew: clock restarts
    now[0] = 4.0
    assert tracker.update(scan()) == []
    busy["value"] = True
    now[0] = 5.0
    assert tracker.update(scan()) == []  # stable but a writer has it open
    busy["value"] = False
    now[0] = 7.1
    assert [e.rel.name for e in tracker.update(scan())] == ["a.jpg"]
    f.unlink()
    tracker.update(scan())
    assert tracker.waiting == 0


@pytest.mark.skipif(os.uname().sysname != "Linux", reason="leases are Linux only")
def test_open_for_writing_sees_a_writer(tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    assert open_for_writing(f) is False
    with open(f, "ab"):
        assert open_for_writing(f) is True
    with open(f, "rb"):
        assert open_for_writing(f) is False
