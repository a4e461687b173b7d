"""The review desk: the queue of a watched folder and every decision on it (policy 8.1.8, 7.4).

The web app and the ``review`` commands both call this; nothing here knows about HTTP.

* The queue is every safe copy the watcher wrote (its journal's ``done`` rows) that is still in
  ``ready/`` or ``review/`` and not yet decided, "needs review" first.
* **Approve** copies the safe copy to ``approved/`` (the one folder to publish from) and records
  who, when and the copy's sha256 in the review database and the audit journal. It is refused if
  the file is not byte-for-byte the safe copy the anonymiser wrote (its sha256 is checked against
  the audit journal or the last re-render), if a flagged region is neither confirmed nor fixed,
  or if a pupil kept sharp no longer has consent for this use.
* **Reject** moves the safe copy to ``rejected/`` with a reason.
* **Blur more** re-renders from the original in ``originals/`` through the public
  ``Anonymiser.process_file(..., manual=boxes)``, replacing the safe copy in place; the new
  regions (kind ``manual``, reason ``added-by-reviewer``) go to the audit journal and a report
  in ``ready/reports/``.
* **Take-downs**: approved copies in which a pupil who has since withdrawn was kept sharp, until
  someone marks each taken down (the approved copy then moves to ``rejected/``).

Item ids are the watcher journal's row ids; files are only ever found from the journal, never
from a path a user gave.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from anonymiser import (
    Action,
    AnonymiserError,
    BatchResult,
    Box,
    ImageResult,
    Kind,
    Reason,
    Settings,
    audit,
)
from anonymiser.approval.errors import ReviewError
from anonymiser.approval.store import DB_NAME, DecisionRow, ReviewDB, Verdict, VersionRow
from anonymiser.approval.users import Role, User, UserStore
from anonymiser.files import fsync_dir
from anonymiser.inputs import is_image
from anonymiser.watch.journal import Journal, Row
from anonymiser.watch.layout import (
    SHARED_DIR_MODE,
    SHARED_FILE_MODE,
    Layout,
    make_dirs,
    unique_path,
)
from anonymiser.watch.records import from_record, to_record, write_batch_report
from anonymiser.watch.scanner import is_network_fs
from anonymiser.watch.service import consent_fingerprint, default_factory

if TYPE_CHECKING:
    from anonymiser.consent import ConsentLog

log = logging.getLogger("anonymiser.review")

MAX_REASON = 300
MAX_BOXES = 50  # reviewer boxes per photo
FIXED_SHARE = 0.5  # a reviewer box covering this share of a flagged region fixes it
SAME_REGION_IOU = 0.5  # a confirmation carries over to a re-rendered region this close

# (settings, consent log or None, previous Anonymiser or None) -> an Anonymiser
Factory = Callable[[Settings, Any, Any], Any]


class ItemState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Item:
    """One safe copy and where it stands."""

    id: int
    area: str  # 'ready' or 'review': where the watcher put it
    output: str  # its path under the area, '/'-separated
    path: Path  # the safe copy now (absolute)
    result: ImageResult  # its regions (the last re-render's, else the watcher's)
    original: Path | None  # the original in originals/ (never served)
    state: ItemState
    decision: DecisionRow | None
    version: VersionRow | None
    expected_sha256: str | None  # what the anonymiser wrote
    flagged: tuple[int, ...]  # indexes of regions a person must confirm or fix
    settled: frozenset[int]  # of those, confirmed or fixed
    received: float  # when the watcher finished it

    @property
    def key(self) -> str:
        """``ready/...`` or ``review/...``: the ITEM of ``review approve``."""
        return f"{self.area}/{self.output}"

    @property
    def name(self) -> str:
        return PurePosixPath(self.output).name

    @property
    def needs_review(self) -> bool:
        return self.result.needs_review or self.area == "review"

    @property
    def unsettled(self) -> tuple[int, ...]:
        return tuple(i for i in self.flagged if i not in self.settled)

    @property
    def kept_pupils(self) -> tuple[str, ...]:
        return tuple(
            sorted(
                {
                    r.pupil_id
                    for r in self.result.regions
                    if r.kind is Kind.FACE and r.action is Action.KEPT and r.pupil_id
                }
            )
        )

    @property
    def is_photo(self) -> bool:
        return is_image(self.path)


@dataclass(frozen=True, slots=True)
class TakeDown:
    """An approved copy to take down because a pupil kept sharp in it has withdrawn."""

    decision: DecisionRow
    pupil_id: str
    withdrawn_on: str
    done_by: str | None = None
    done_at: float | None = None

    @property
    def key(self) -> str:
        return f"{self.decision.id}:{self.pupil_id}"


@dataclass(frozen=True, slots=True)
class Queue:
    takedowns: tuple[TakeDown, ...]  # still to do
    pending: tuple[Item, ...]  # needs review first, then oldest first
    decided: tuple[Item, ...]  # most recent first
    takedowns_done: tuple[TakeDown, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "takedowns": [_takedown_dict(t) for t in self.takedowns],
            "pending": [item_dict(i) for i in self.pending],
            "decided": [item_dict(i) for i in self.decided],
        }


def _takedown_dict(t: TakeDown) -> dict[str, Any]:
    return {
        "approved": t.decision.target,
        "item": t.decision.item,
        "pupil_id": t.pupil_id,
        "withdrawn_on": t.withdrawn_on,
        "approved_by": t.decision.by,
        "approved_at": _iso(t.decision.time),
    }


def item_dict(item: Item) -> dict[str, Any]:
    """What ``review list --json`` prints for an item (pupil ids, never names)."""
    d = item.decision
    return {
        "id": item.id,
        "item": item.key,
        "state": str(item.state),
        "needs_review": item.needs_review,
        "faces_blurred": item.result.faces_blurred,
        "faces_kept": item.result.faces_kept,
        "text_blurred": item.result.texts_blurred,
        "areas_added_by_reviewer": sum(1 for r in item.result.regions if r.kind is Kind.MANUAL),
        "kept_pupils": list(item.kept_pupils),
        "flagged_regions": [i + 1 for i in item.flagged],
        "unsettled_regions": [i + 1 for i in item.unsettled],
        "decision": None
        if d is None
        else {"action": str(d.action), "by": d.by, "time": _iso(d.time), "target": d.target,
              "sha256": d.sha256, "reason": d.reason},
    }  # fmt: skip


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def _covers(box: Box, region: Box) -> bool:
    return region.area > 0 and box.intersection(region) >= FIXED_SHARE * region.area


class ReviewDesk:
    """The queue of one watched folder (``root``) and the decisions on it.

    ``settings`` should be the watcher's: "blur more" re-renders with them. ``consent_path``
    defaults to the log the watcher last started with; it tells which pupils have withdrawn
    (take-downs) or no longer consent (approval refused).
    ``factory`` builds the Anonymiser for re-renders (the watcher's, loading models on first use).
    """

    def __init__(
        self,
        root: str | Path,
        settings: Settings | None = None,
        consent_path: Path | None = None,
        *,
        journal: Path | None = None,
        factory: Factory = default_factory,
    ) -> None:
        self.layout = Layout.at(root)
        if not self.layout.journal.exists():
            raise ReviewError(
                f"{self.layout.root}: not a watched folder (no .anonymiser/journal.sqlite; "
                "start `anonymiser watch` on it first)"
            )
        self.settings = settings or Settings()
        self.consent_path = consent_path or self._watchers_consent()
        self.audit_path = journal or audit.journal_path(self.settings)
        self.users = UserStore.for_root(self.layout.root)
        self.db = ReviewDB(self.layout.state / DB_NAME)
        for folder in (self.approved, self.rejected):
            if folder.is_symlink():
                raise ReviewError(f"{folder}: must be a real folder, not a symbolic link")
            if not folder.exists():
                folder.mkdir(mode=SHARED_DIR_MODE)
                os.chmod(folder, SHARED_DIR_MODE)
        self._factory = factory
        self._anon: Any = None
        self._consent: ConsentLog | None = None
        self._consent_fp: str | None = None
        self._consent_error: str | None = None
        self._lock = threading.RLock()  # one decision or re-render at a time

    def _watchers_consent(self) -> Path | None:
        """The consent log the watcher last started with (recorded in its journal)."""
        wal = not is_network_fs(self.layout.root)
        with Journal(self.layout.journal, create=False, wal=wal) as journal:
            recorded = journal.meta("consent_path")
        return Path(recorded) if recorded else None

    # -- folders ----------------------------------------------------------------------------
    @property
    def approved(self) -> Path:
        """The one folder to publish from."""
        return self.layout.approved

    @property
    def rejected(self) -> Path:
        return self.layout.rejected

    def _area(self, name: str) -> Path:
        return {"ready": self.layout.ready, "review": self.layout.review}[name]

    # -- consent ----------------------------------------------------------------------------
    def consent(self) -> ConsentLog | None:
        """The consent log, reloaded when it or its withdrawals file changed; None if not given.

        Raises ReviewError if it was given but cannot be read (decisions that need it stop).
        """
        if self.consent_path is None:
            return None
        with self._lock:
            fp = consent_fingerprint(self.consent_path)
            if fp != self._consent_fp:
                from anonymiser import ConsentError, ConsentLog

                try:
                    self._consent = ConsentLog.load(self.consent_path)
                    self._consent_error = None
                except ConsentError as err:
                    self._consent, self._consent_error = None, str(err)
                self._consent_fp = fp
            if self._consent_error:
                raise ReviewError(f"consent log unusable: {self._consent_error}")
            return self._consent

    def _pupil_names(self) -> list[Any]:
        try:
            consent = self.consent()
        except ReviewError:
            return []
        return list(consent.roster(self.settings.consent_date)) if consent else []

    def consent_problems(self, item: Item) -> list[str]:
        """Pupils kept sharp in ``item`` whose consent no longer covers this use (today)."""
        consent = self.consent()
        if consent is None:
            return []
        s = self.settings
        out = []
        for pupil in item.kept_pupils:
            reason = consent.status(pupil, s.media, s.purpose, s.consent_date)
            if reason is not Reason.CONSENT:
                out.append(f"{pupil}: {reason}")
        return out

    # -- reading the queue ------------------------------------------------------------------
    def _journal_rows(self) -> list[Row]:
        wal = not is_network_fs(self.layout.root)
        with Journal(self.layout.journal, create=False, wal=wal) as journal:
            return [r for r in journal.all() if r.state == "done" and r.output and r.area]

    def _expected_shas(self) -> dict[str, str]:
        """Safe copy path -> the sha256 the anonymiser recorded for it (the audit journal's
        latest record of each output under ROOT)."""
        if not self.audit_path.exists():
            return {}
        prefix = str(self.layout.root).replace("\\", "\\\\").replace("%", "\\%")
        try:
            with audit.connect(self.audit_path, create=False) as con:
                rows = con.execute(
                    "SELECT output, output_sha256 FROM files WHERE status = 'ok' AND "
                    "output_sha256 IS NOT NULL AND output LIKE ? ESCAPE '\\' ORDER BY id",
                    (prefix.replace("_", "\\_") + "/%",),
                ).fetchall()
        except (audit.AuditError, sqlite3.Error) as err:
            log.warning("audit journal not readable: %s", err)
            return {}
        return dict(rows)

    def _original(self, recorded: str | None) -> Path | None:
        """The original in originals/ (the journal records it relative to ROOT)."""
        if not recorded:
            return None
        try:
            rel = PurePosixPath(recorded).relative_to("originals")
            return self.layout.target(self.layout.originals, rel)
        except (ValueError, AnonymiserError):
            return None

    def items(self) -> list[Item]:
        decisions = self.db.decisions()
        versions = self.db.latest_versions()
        checks = self.db.checks()
        recorded = self._expected_shas()
        out = []
        for row in self._journal_rows():
            decision = decisions.get(row.id)
            area = row.area or "ready"
            if area not in ("ready", "review") or row.output is None:
                continue
            rel = PurePosixPath(row.output)
            try:
                path = self.layout.target(self._area(area), rel)
            except AnonymiserError:  # an unsafe path in the journal: never follow it
                continue
            if decision is None and not path.is_file():
                continue  # gone from ready/ (moved or deleted by hand): nothing to decide
            record = versions[row.id].record if row.id in versions else row.report_record
            if record is None:
                continue
            result = from_record(record)
            version = versions.get(row.id)
            expected = version.sha256 if version else recorded.get(str(path))
            original = self._original(row.original)
            flagged = _flagged(result)
            settled = _settled(result, flagged, checks.get(row.id, []))
            state = (
                ItemState.PENDING if decision is None
                else ItemState.APPROVED if decision.action is Verdict.APPROVED
                else ItemState.REJECTED
            )  # fmt: skip
            out.append(
                Item(row.id, area, row.output, path, result, original, state, decision, version,
                     expected, flagged, settled, row.updated_at)
            )  # fmt: skip
        return out

    def queue(self) -> Queue:
        items = self.items()
        pending = sorted(
            (i for i in items if i.state is ItemState.PENDING),
            key=lambda i: (not i.needs_review, i.received, i.id),
        )
        decided = sorted(
            (i for i in items if i.state is not ItemState.PENDING),
            key=lambda i: -(i.decision.time if i.decision else 0),
        )
        todo, done = self.takedowns(items)
        return Queue(tuple(todo), tuple(pending), tuple(decided), tuple(done))

    def item(self, item_id: int) -> Item:
        for item in self.items():
            if item.id == item_id:
                return item
        raise ReviewError(f"item {item_id}: no such photo in the queue")

    def find(self, key: str) -> Item:
        """The item for ``ready/PATH``, ``review/PATH`` (or PATH alone, if unambiguous) or an id."""
        key = key.strip().replace("\\", "/")
        if key.isdigit():
            return self.item(int(key))
        items = self.items()
        exact = [i for i in items if i.key == key]
        if not exact:
            exact = [i for i in items if i.output == key]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise ReviewError(f"{key}: more than one photo has that name; give ready/ or review/")
        raise ReviewError(
            f"{key}: no such photo in ready/ or review/ (see `anonymiser review list`)"
        )

    # -- served files -----------------------------------------------------------------------
    def served_file(self, item_id: int) -> Path:
        """The safe copy to show for an item: in ready/, review/ or approved/, nowhere else."""
        item = self.item(item_id)
        if item.state is ItemState.APPROVED and item.decision is not None:
            path = self.layout.root / item.decision.target
            folder = self.approved
        elif item.state is ItemState.PENDING:
            path, folder = item.path, self._area(item.area)
        else:
            raise ReviewError(f"item {item_id}: rejected photos are not shown")
        if not path.is_file() or path.is_symlink() or not self.layout.inside(path, folder):
            raise ReviewError(f"item {item_id}: file not found")
        return path

    # -- decisions --------------------------------------------------------------------------
    def _user(self, name: str, *, approver: bool = True) -> User:
        user = self.users.get(name)
        if user is None:
            raise ReviewError(f"{name!r}: no such review user (see `anonymiser review add-user`)")
        if approver and user.role is not Role.APPROVER:
            raise ReviewError(f"{name}: is a viewer; only an approver may decide")
        return user

    def _pending(self, item_id: int) -> Item:
        item = self.item(item_id)
        if item.state is not ItemState.PENDING:
            d = item.decision
            assert d is not None
            raise ReviewError(f"{item.key}: already {d.action} by {d.by} at {_iso(d.time)}")
        return item

    def _verified(self, item: Item, seen_sha256: str | None) -> str:
        """The safe copy's sha256, after checking it is what the anonymiser wrote."""
        sha = audit.sha256_of(item.path)
        if sha is None:
            raise ReviewError(f"{item.key}: cannot read the safe copy")
        if item.expected_sha256 is None:
            raise ReviewError(
                f"{item.key}: no audit record of this safe copy, so it cannot be checked "
                f"(is the audit journal {self.audit_path} the watcher's? see docs/review.md)"
            )
        if sha != item.expected_sha256:
            raise ReviewError(
                f"{item.key}: the file has changed since the anonymiser wrote it; not approved "
                "(reject it, or drop the original into incoming/ again)"
            )
        if seen_sha256 is not None and seen_sha256 != sha:
            raise ReviewError(f"{item.key}: the photo changed while you looked at it; look again")
        return sha

    def confirm(self, item_id: int, region: int, by: str) -> Item:
        """A flagged region (numbered from 1, as shown) looked at and found right."""
        with self._lock:
            self._user(by)
            item = self._pending(item_id)
            index = region - 1
            if index not in item.flagged:
                raise ReviewError(f"{item.key}: region {region} is not flagged for review")
            self.db.add_check(item.id, item.result.regions[index].box, by)
            self._audit(audit.Decision.REGION_CONFIRMED, item.path, by,
                        reason=f"region {region} confirmed")  # fmt: skip
            return self.item(item_id)

    def approve(self, item_id: int, by: str, *, seen_sha256: str | None = None) -> Item:
        """Copy the safe copy to approved/ and record it (see the module docstring)."""
        with self._lock:
            self._user(by)
            item = self._pending(item_id)
            if item.unsettled:
                numbers = ", ".join(str(i + 1) for i in item.unsettled)
                raise ReviewError(
                    f"{item.key}: needs review: confirm or fix region(s) {numbers} first"
                )
            problems = self.consent_problems(item)
            if problems:
                raise ReviewError(
                    f"{item.key}: consent has changed ({'; '.join(problems)}): use Blur more "
                    "to re-render it with today's consent, or reject it"
                )
            sha = self._verified(item, seen_sha256)
            rel = PurePosixPath(item.output)
            target = unique_path(self.layout.target(self.approved, rel))
            make_dirs(target.parent, self.approved, SHARED_DIR_MODE)
            self._copy(item.path, target)
            if audit.sha256_of(target) != sha:
                target.unlink(missing_ok=True)
                raise ReviewError(f"{item.key}: the copy in approved/ did not match; not approved")
            target_rel = target.relative_to(self.layout.root).as_posix()
            self.db.add_decision(item.id, item.key, Verdict.APPROVED, by, sha, target_rel,
                                 version=item.version.id if item.version else 0)  # fmt: skip
            self._audit(audit.Decision.APPROVED, item.path, by, output=target, sha=sha)
            log.info("%s: approved by %s -> %s", item.key, by, target_rel)
            return self.item(item_id)

    def reject(self, item_id: int, by: str, reason: str) -> Item:
        """Move the safe copy to rejected/ with a reason; it is not to be published."""
        reason = " ".join(reason.split())
        if not reason:
            raise ReviewError("give a short reason for rejecting")
        if len(reason) > MAX_REASON:
            raise ReviewError(f"reason too long (at most {MAX_REASON} characters)")
        with self._lock:
            self._user(by)
            item = self._pending(item_id)
            sha = audit.sha256_of(item.path) or ""
            target = unique_path(self.layout.target(self.rejected, PurePosixPath(item.output)))
            make_dirs(target.parent, self.rejected, SHARED_DIR_MODE)
            os.replace(item.path, target)
            fsync_dir(target.parent)
            target_rel = target.relative_to(self.layout.root).as_posix()
            self.db.add_decision(item.id, item.key, Verdict.REJECTED, by, sha, target_rel, reason,
                                 item.version.id if item.version else 0)  # fmt: skip
            self._audit(audit.Decision.REJECTED, item.path, by, output=target, sha=sha,
                        reason=reason)  # fmt: skip
            log.info("%s: rejected by %s -> %s", item.key, by, target_rel)
            return self.item(item_id)

    def blur_more(self, item_id: int, boxes: Sequence[Box], by: str) -> Item:
        """Re-render the safe copy from its original with ``boxes`` (and every earlier
        reviewer box) blurred; the new copy replaces the old in ready/ or review/."""
        with self._lock:
            self._user(by)
            item = self._pending(item_id)
            if not item.is_photo:
                raise ReviewError(f"{item.key}: blur more works on photos only")
            w, h = item.result.width, item.result.height
            new = tuple(b.clipped(w, h) for b in boxes) if w and h else tuple(boxes)
            new = tuple(b for b in new if b.w >= 2 and b.h >= 2)
            if not new:
                raise ReviewError(f"{item.key}: draw a box inside the photo to blur")
            earlier = item.version.boxes if item.version else ()
            every = earlier + new
            if len(every) > MAX_BOXES:
                raise ReviewError(f"{item.key}: at most {MAX_BOXES} areas can be added")
            original = item.original
            if original is None or not original.is_file():
                raise ReviewError(f"{item.key}: the original is no longer in originals/")
            anon = self._anonymiser()
            staging = self.layout.work / f"review-{item.id}{item.path.suffix}"
            try:
                result: ImageResult = anon.process_file(original, staging, manual=every)
                if result.error or result.output is None:
                    raise ReviewError(f"{item.key}: re-render failed: {result.error}")
                os.chmod(staging, SHARED_FILE_MODE)
                os.replace(staging, item.path)
                fsync_dir(item.path.parent)
            finally:
                staging.unlink(missing_ok=True)
            sha = audit.sha256_of(item.path) or ""
            shown = replace(
                result,
                source=original.relative_to(self.layout.root).as_posix(),
                output=item.key,
                extra={**item.result.extra, "re_rendered_by": by},
            )
            self.db.add_version(item.id, by, every, to_record(shown), sha)
            self._record_render(replace(result, source=str(original), output=str(item.path)))
            self._audit(audit.Decision.RE_RENDERED, item.path, by, sha=sha,
                        reason=f"{len(new)} area(s) added by reviewer, {len(every)} in all")  # fmt: skip
            try:
                write_batch_report(self.layout, f"re-rendered {item.name}", [to_record(shown)],
                                   self.settings, self._safe_consent())  # fmt: skip
            except Exception as err:  # the report is a convenience; the journal has it all
                log.error("%s: re-render report not written: %s", item.key, err)
            log.info("%s: re-rendered by %s with %d reviewer area(s)", item.key, by, len(every))
            return self.item(item_id)

    # -- withdrawals ------------------------------------------------------------------------
    def takedowns(self, items: list[Item] | None = None) -> tuple[list[TakeDown], list[TakeDown]]:
        """(to do, done): approved copies where a pupil who has withdrawn was kept sharp."""
        consent = self._safe_consent()
        if consent is None:
            return [], []
        done_marks = self.db.takedowns()
        todo: list[TakeDown] = []
        done: list[TakeDown] = []
        today = self.settings.consent_date
        for item in items if items is not None else self.items():
            d = item.decision
            if d is None:
                continue
            if d.action is not Verdict.APPROVED:
                continue
            for pupil in item.kept_pupils:
                since = consent.withdrawn_from(pupil, today)
                if since is None:
                    continue
                mark = done_marks.get((d.id, pupil))
                t = TakeDown(d, pupil, since.isoformat(), *(mark or (None, None)))
                (done if mark else todo).append(t)
        return todo, done

    def mark_taken_down(self, decision_id: int, pupil_id: str, by: str) -> None:
        """Record that an approved copy was taken down from where it was posted; the copy in
        approved/ moves to rejected/ so it is not posted again."""
        with self._lock:
            self._user(by)
            todo, _ = self.takedowns()
            match = [t for t in todo if t.decision.id == decision_id and t.pupil_id == pupil_id]
            if not match:
                raise ReviewError(f"take-down {decision_id}:{pupil_id}: nothing to take down")
            t = match[0]
            self.db.add_takedown(decision_id, pupil_id, by)
            approved = self.layout.root / t.decision.target
            moved: Path | None = None
            if approved.is_file() and self.layout.inside(approved, self.approved):
                rel = PurePosixPath(approved.relative_to(self.approved).as_posix())
                moved = unique_path(self.layout.target(self.rejected, rel))
                make_dirs(moved.parent, self.rejected, SHARED_DIR_MODE)
                os.replace(approved, moved)
            self._audit(audit.Decision.TAKEN_DOWN, approved, by, output=moved,
                        sha=t.decision.sha256, pupil=pupil_id,
                        reason=f"consent withdrawn from {t.withdrawn_on}")  # fmt: skip
            log.info("%s: taken down (withdrawal of %s), marked by %s", t.decision.target,
                     pupil_id, by)  # fmt: skip

    # -- helpers ----------------------------------------------------------------------------
    def _safe_consent(self) -> ConsentLog | None:
        try:
            return self.consent()
        except ReviewError as err:
            log.error("%s", err)
            return None

    def _anonymiser(self) -> Any:
        consent = self.consent()
        if self._anon is None or getattr(self._anon, "consent", None) is not consent:
            self._anon = self._factory(self.settings, consent, self._anon)
        return self._anon

    def _copy(self, src: Path, target: Path) -> None:
        tmp = target.with_name(f".{target.name}.part")
        try:
            shutil.copyfile(src, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, SHARED_FILE_MODE)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(target.parent)

    def _record_render(self, result: ImageResult) -> None:
        try:
            audit.record_batch(BatchResult((result,)), self.settings, self._safe_consent(),
                               self.audit_path, pupils=self._pupil_names() or None)  # fmt: skip
        except audit.AuditError as err:
            log.error("audit journal: %s", err)

    def _audit(
        self,
        action: audit.Decision,
        item: Path,
        by: str,
        *,
        output: Path | None = None,
        sha: str | None = None,
        reason: str | None = None,
        pupil: str | None = None,
    ) -> None:
        """Record a decision in the audit journal. It must be written: a decision that cannot
        be recorded is an error (the review database has it too)."""
        audit.record_decision(action, item, by, output=output, output_sha256=sha, reason=reason,
                              pupil_id=pupil, path=self.audit_path,
                              pupils=self._pupil_names())  # fmt: skip


def _flagged(result: ImageResult) -> tuple[int, ...]:
    """Regions a person must confirm or fix: the ambiguous matches (every face if the photo
    needs review for another reason)."""
    ambiguous = tuple(i for i, r in enumerate(result.regions) if r.reason is Reason.AMBIGUOUS_MATCH)
    if ambiguous or not result.needs_review:
        return ambiguous
    return tuple(i for i, r in enumerate(result.regions) if r.kind is Kind.FACE)


def _settled(result: ImageResult, flagged: tuple[int, ...], checks: list[Box]) -> frozenset[int]:
    manual = [r.box for r in result.regions if r.kind is Kind.MANUAL]
    out = set()
    for i in flagged:
        box = result.regions[i].box
        if any(_covers(m, box) for m in manual) or any(
            c.iou(box) >= SAME_REGION_IOU for c in checks
        ):
            out.add(i)
    return frozenset(out)
