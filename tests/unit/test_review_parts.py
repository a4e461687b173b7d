"""The pieces under the review app: reviewer boxes through the public API, their redaction and
labels, decisions in the append-only audit journal, and the users file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from argon2 import PasswordHasher
from PIL import Image

from anonymiser import (
    Action,
    Anonymiser,
    BatchResult,
    Box,
    ImageResult,
    Kind,
    Reason,
    Region,
    Settings,
    SettingsError,
    Status,
    audit,
)
from anonymiser.approval import Role, UserStore
from anonymiser.pipeline import manual_regions
from anonymiser.redact import redact
from anonymiser.review import markers
from tests.unit.test_pipeline import FakeFaces

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def busy(h: int = 80, w: int = 120, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_manual_boxes_are_blurred_regions_after_the_detections(tmp_path: Path) -> None:
    rgb = busy()
    anon = Anonymiser(Settings(text="off"), face_detector=FakeFaces([Box(5, 5, 20, 20)]))
    box = Box(70, 30, 30, 25)
    safe, result = anon.process_array(rgb, manual=[box])
    assert [r.kind for r in result.regions] == [Kind.FACE, Kind.MANUAL]
    manual = result.regions[1]
    assert (manual.box, manual.action, manual.reason) == (box, Action.BLURRED,
                                                           Reason.ADDED_BY_REVIEWER)  # fmt: skip
    assert (
        manual.as_report()["kind"] == "manual"
        and manual.as_report()["reason"] == "added-by-reviewer"
    )
    inside = safe[box.y : box.y2, box.x : box.x2].astype(float)
    assert inside.std() < 0.3 * rgb[box.y : box.y2, box.x : box.x2].std()
    # the same through a file, in the displayed image's pixels
    src = tmp_path / "in.png"
    Image.fromarray(rgb).save(src)
    result = anon.process_file(src, tmp_path / "out.png", manual=[box])
    assert result.status is Status.OK and result.regions[-1].kind is Kind.MANUAL


def test_manual_regions_are_clipped_and_empty_ones_dropped() -> None:
    regions = manual_regions([Box(-10, -10, 30, 30), Box(500, 500, 10, 10), Box(90, 70, 50, 50)],
                             100, 80)  # fmt: skip
    assert [r.box for r in regions] == [Box(0, 0, 20, 20), Box(90, 70, 10, 10)]


@pytest.mark.parametrize("method", ["blur", "pixelate", "fill"])
def test_manual_redaction_changes_the_box_and_nothing_else(method: str) -> None:
    rgb = busy()
    box = Box(30, 20, 40, 30)
    (region,) = manual_regions([box], 120, 80)
    out = redact(rgb, [region], method)
    mask = np.zeros(rgb.shape[:2], bool)
    mask[box.y : box.y2, box.x : box.x2] = True
    assert np.array_equal(out[~mask], rgb[~mask])
    diff = np.abs(out[mask].astype(int) - rgb[mask].astype(int)).mean()
    assert diff > 40  # beyond recognition: noise replaced by a smooth patch


def test_review_label_and_marker_for_a_manual_region() -> None:
    region = Region(Kind.MANUAL, Box(1, 2, 30, 40), 1.0, Action.BLURRED, Reason.ADDED_BY_REVIEWER)
    (m,) = markers("p", (region,), 100, 100)
    assert m.css == "manual-blurred" and m.label == "1. Area blurred: added by a reviewer"


def test_decisions_are_append_only_and_attached_to_the_file(tmp_path: Path) -> None:
    journal = tmp_path / "audit.sqlite"
    out = tmp_path / "ready" / "a.jpg"
    out.parent.mkdir()
    out.write_bytes(b"safe copy")
    batch = BatchResult((ImageResult(str(tmp_path / "a.jpg"), str(out), Status.OK, 9, 9),))
    audit.record_batch(batch, Settings(), path=journal)
    approved = tmp_path / "approved" / "a.jpg"
    d = audit.record_decision(audit.Decision.APPROVED, out, "head", output=approved,
                              output_sha256=audit.sha256_of(out), path=journal)  # fmt: skip
    assert d.action == "approved" and d.by == "head" and d.time
    (record,) = audit.file_history(out, journal)
    assert [x.as_dict()["action"] for x in record.decisions] == ["approved"]
    assert record.decisions[0].output == str(approved)
    with audit.connect(journal) as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE decisions SET by = 'someone else'")
    with audit.connect(journal) as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM decisions")


def test_users_names_roles_and_passwords(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json", CHEAP)
    with pytest.raises(SettingsError, match="too short"):
        store.add("head", "short")
    with pytest.raises(SettingsError, match="user name"):
        store.add("head teacher", "long enough pw")
    with pytest.raises(SettingsError, match="approver or viewer"):
        store.add("head", "long enough pw", "admin")
    assert store.add("head", "long enough pw", "approver").may_approve
    assert store.verify("head", "long enough pw").role is Role.APPROVER
    store.add("head", "another long one", "viewer")  # a new password and role
    assert store.verify("head", "long enough pw") is None
    assert store.verify("head", "another long one").role is Role.VIEWER
    assert store.verify("ghost", "another long one") is None
    assert [u.name for u in store.users()] == ["head"]
