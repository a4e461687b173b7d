"""The one registry of media suffixes, the naming rule, and the shared file helpers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from anonymiser import ExitCode
from anonymiser.audit import AuditError
from anonymiser.consent import Pupil
from anonymiser.errors import StorageError
from anonymiser.files import atomic_path, open_sqlite, sha256_file
from anonymiser.identify.faces import StoreError
from anonymiser.identify.names import RosterNameMatcher
from anonymiser.inputs import (
    NAME_HIDDEN,
    NameHider,
    is_media,
    output_suffix,
    safe_part,
    unsupported_reason,
)
from anonymiser.watch.journal import JournalError


def test_unsupported_reason_is_the_one_wording() -> None:
    assert unsupported_reason("a/B.JPG") is None and unsupported_reason("clip.MOV") is None
    assert unsupported_reason("notes.pdf") == (
        "not a photo or video the anonymiser can process (.pdf)"
    )
    assert unsupported_reason("README") == (
        "not a photo or video the anonymiser can process (no extension)"
    )
    assert not is_media("._IMG_1.jpg")  # macOS resource fork


def test_output_suffixes() -> None:
    assert output_suffix("x.heic") == ".jpg" and output_suffix("x.MOV") == ".mp4"
    assert output_suffix("x.JPEG") == ".JPEG" and output_suffix("x.png") == ".png"


def test_naming_rule_numbers_never_derive_from_the_name() -> None:
    names = RosterNameMatcher([Pupil("P1", "Amelia", "Hughes")])
    assert safe_part("Amelia Hughes Y6", names, "photo", 7) == "photo-0007"
    assert safe_part("Amelia_Hughes", names, "folder", 12) == "folder-0012"
    assert safe_part("Sports day", names, "folder", 12) == "Sports day"
    assert safe_part("Amelia Hughes", None, "photo", 1) == "Amelia Hughes"  # no roster


def test_name_hider_hides_parts_and_words() -> None:
    hider = NameHider(RosterNameMatcher([Pupil("P1", "Amelia", "Hughes")]))
    assert hider.path("in/Amelia Hughes/IMG_1.jpg") == f"in/{NAME_HIDDEN}/IMG_1.jpg"
    assert hider.part("Amelia_Hughes.jpg") == f"{NAME_HIDDEN}.jpg"
    error = "in/Amelia_Hughes.jpg: corrupt image"
    assert hider.text(error, ["in/Amelia_Hughes.jpg"]) == f"in/{NAME_HIDDEN}.jpg: corrupt image"
    assert NameHider(None).path("in/Amelia Hughes.jpg") == "in/Amelia Hughes.jpg"


def test_atomic_path_leaves_old_or_new(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    with atomic_path(target, mode=0o640) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "new" and sorted(p.name for p in target.parent.iterdir()) == [
        "report.json"
    ]
    assert sha256_file(target) == (
        "11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437"
    )


def test_sqlite_opener_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    open_sqlite(
        path, schema="CREATE TABLE t (x);", version=1, error=JournalError, what="db"
    ).close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version=9")
    con.close()
    with pytest.raises(JournalError, match="newer anonymiser"):
        open_sqlite(path, schema="", version=1, error=JournalError, what="db")


@pytest.mark.parametrize("error", [StoreError, AuditError, JournalError])
def test_storage_errors_exit_with_their_own_code(error: type[StorageError]) -> None:
    err = error("x: cannot open")
    assert isinstance(err, StorageError) and err.exit_code == ExitCode.STORAGE == 7
