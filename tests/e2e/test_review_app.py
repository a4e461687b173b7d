"""The review app (issue 17) without a browser: the desk's flows, the CLI, and the web app's
security through Flask's test client (which runs no JavaScript: the basic flow needs none)."""

from __future__ import annotations

import io
import json
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from anonymiser import audit
from anonymiser.approval import ReviewDesk, ReviewError, UserStore
from anonymiser.approval.web import Options, create_app
from anonymiser.cli import main
from tests.review_support import (
    AMBIGUOUS,
    FACE_A,
    KEPT,
    MISSED,
    NOBODY,
    PASSWORD,
    Folder,
    watched_folder,
)

NAMES = ("Ann", "Able", "Ben", "Bell", "Cat", "Cole")


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    f = watched_folder(
        tmp_path,
        {"Sports Day/kept.jpg": KEPT, "Sports Day/amb.jpg": AMBIGUOUS, "nobody.jpg": NOBODY},
    )
    return f


def rgb(data: bytes | Path) -> np.ndarray:
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(src) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def detail(a: np.ndarray, box: Any) -> float:
    """High-frequency detail inside ``box`` (freckles survive only if not blurred)."""
    patch = a[box.y + 6 : box.y2 - 6, box.x + 6 : box.x2 - 6].mean(axis=-1)
    return float(np.abs(np.diff(patch, axis=0)).mean() + np.abs(np.diff(patch, axis=1)).mean())


def by_key(desk: ReviewDesk, key: str) -> Any:
    return desk.find(key)


# -- the desk and the CLI --------------------------------------------------------------------


def test_queue_needs_review_first_pupil_ids_only(folder: Folder) -> None:
    res = CliRunner().invoke(main, ["review", "list", str(folder.root), "--json",
                                    "--consent", str(folder.consent)])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    keys = [i["item"] for i in data["pending"]]
    assert keys[0] == "review/Sports Day/amb.jpg" and set(keys[1:]) == {
        "ready/Sports Day/kept.jpg",
        "ready/nobody.jpg",
    }
    kept = next(i for i in data["pending"] if i["item"].endswith("kept.jpg"))
    assert kept["kept_pupils"] == ["P1"] and kept["faces_blurred"] == 1
    assert data["pending"][0]["flagged_regions"] == [1]
    assert not any(n in res.stdout for n in NAMES)


def test_cli_approve_copies_identical_file_and_audit_shows_who(folder: Folder) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["review", "approve", str(folder.root), "ready/nobody.jpg",
                               "--by", "head"])  # fmt: skip
    assert res.exit_code == 0, res.output
    approved = folder.root / "approved" / "nobody.jpg"
    ready = folder.root / "ready" / "nobody.jpg"
    assert approved.read_bytes() == ready.read_bytes()
    assert stat.S_IMODE(approved.stat().st_mode) == 0o640
    sha = audit.sha256_of(approved)
    assert sha in res.stdout
    res = runner.invoke(main, ["audit", "file", str(approved)])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if "approved by head" in x)
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line) and "approved/nobody.jpg" in line
    res = runner.invoke(main, ["audit", "file", str(approved), "--json"])
    (record,) = json.loads(res.stdout)
    (decision,) = record["decisions"]
    assert decision["action"] == "approved" and decision["by"] == "head"
    assert decision["output_sha256"] == sha and decision["time"]
    # twice is refused, and so is an unknown name or a viewer
    res = runner.invoke(main, ["review", "approve", str(folder.root), "ready/nobody.jpg",
                               "--by", "head"])  # fmt: skip
    assert res.exit_code == 3 and "already approved by head" in res.output
    for who, why in (("office", "viewer"), ("nobody", "no such review user")):
        res = runner.invoke(main, ["review", "approve", str(folder.root),
                                   "ready/Sports Day/kept.jpg", "--by", who])  # fmt: skip
        assert res.exit_code == 3 and why in res.output


def test_flagged_photo_needs_each_region_confirmed(folder: Folder) -> None:
    desk = folder.desk()
    item = by_key(desk, "review/Sports Day/amb.jpg")
    assert item.flagged == (0,) and item.unsettled == (0,)
    with pytest.raises(ReviewError, match="confirm or fix region"):
        desk.approve(item.id, "head")
    with pytest.raises(ReviewError, match="not flagged"):
        desk.confirm(item.id, 2, "head")
    item = desk.confirm(item.id, 1, "head")
    assert item.unsettled == ()
    item = desk.approve(item.id, "head")
    assert (folder.root / "approved" / "Sports Day" / "amb.jpg").is_file()


def test_blur_more_rerenders_from_original_with_a_manual_region(folder: Folder) -> None:
    desk = folder.desk()
    item = by_key(desk, "ready/nobody.jpg")
    before = rgb(item.path)
    assert detail(before, MISSED) > 8  # the missed "face" is sharp
    item = desk.blur_more(item.id, [MISSED], "head")
    after = rgb(item.path)
    assert detail(after, MISSED) < 0.25 * detail(before, MISSED)
    far = (slice(0, 40), slice(300, 360))  # away from every region
    assert np.abs(after[far] - before[far]).mean() < 1.0
    manual = [r for r in item.result.regions if r.kind == "manual"]
    assert [(r.box, r.reason, r.action) for r in manual] == [
        (MISSED, "added-by-reviewer", "blurred")
    ]
    # the report in ready/reports and the audit journal say so
    (report,) = (folder.root / "ready" / "reports").glob("* re-rendered nobody.jpg.json")
    regions = json.loads(report.read_text())["images"][0]["regions"]
    assert {"kind": "manual", "reason": "added-by-reviewer"}.items() <= regions[-1].items()
    with audit.connect(create=False) as con:
        rows = con.execute("SELECT kind, reason FROM regions WHERE kind = 'manual'").fetchall()
        acts = [a for (a,) in con.execute("SELECT action FROM decisions")]
    assert rows == [("manual", "added-by-reviewer")] and acts == ["re-rendered"]
    # a second box keeps the first; approval publishes the re-rendered copy
    item = desk.blur_more(item.id, [FACE_A], "head")
    assert sum(1 for r in item.result.regions if r.kind == "manual") == 2
    item = desk.approve(item.id, "head")
    assert (folder.root / "approved" / "nobody.jpg").read_bytes() == item.path.read_bytes()


def test_a_box_over_a_flagged_region_fixes_it(folder: Folder) -> None:
    desk = folder.desk()
    item = by_key(desk, "review/Sports Day/amb.jpg")
    item = desk.blur_more(item.id, [FACE_A.scaled(1.2)], "head")
    assert item.unsettled == () and item.flagged == (0,)
    desk.approve(item.id, "head")


def test_reject_moves_with_reason(folder: Folder) -> None:
    res = CliRunner().invoke(main, ["review", "reject", str(folder.root), "ready/nobody.jpg",
                                    "--by", "head", "--reason", "Ann Able's name on the bag"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert not (folder.root / "ready" / "nobody.jpg").exists()
    assert (folder.root / "rejected" / "nobody.jpg").is_file()
    with audit.connect(create=False) as con:
        (reason,) = con.execute("SELECT reason FROM decisions WHERE action = 'rejected'").fetchone()
    assert "Ann" not in reason and audit.NAME_HIDDEN in reason  # no names in the journal
    with pytest.raises(ReviewError, match="short reason"):
        folder.desk().reject(by_key(folder.desk(), "ready/Sports Day/kept.jpg").id, "head", " ")


def test_a_changed_safe_copy_is_not_approved(folder: Folder) -> None:
    desk = folder.desk()
    item = by_key(desk, "ready/nobody.jpg")
    original = folder.root / "originals" / "nobody.jpg"
    item.path.write_bytes(original.read_bytes())  # someone pasted the original over it
    with pytest.raises(ReviewError, match="changed since the anonymiser wrote it"):
        desk.approve(item.id, "head")
    assert not (folder.root / "approved" / "nobody.jpg").exists()


def test_withdrawal_lists_take_downs_until_marked_done(folder: Folder) -> None:
    runner = CliRunner()
    desk = folder.desk()
    approved = desk.approve(by_key(desk, "ready/Sports Day/kept.jpg").id, "head")
    assert approved.kept_pupils == ("P1",)
    res = runner.invoke(main, ["withdraw", "P1", "--consent", str(folder.consent)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["review", "list", str(folder.root), "--consent",
                               str(folder.consent)])  # fmt: skip
    assert res.stdout.splitlines()[0].startswith("TAKE DOWN\tapproved/Sports Day/kept.jpg\tP1")
    desk = folder.desk()
    (todo,) = desk.queue().takedowns
    assert todo.pupil_id == "P1" and todo.decision.by == "head"
    desk.mark_taken_down(todo.decision.id, "P1", "head")
    q = desk.queue()
    assert q.takedowns == () and [t.done_by for t in q.takedowns_done] == ["head"]
    assert not (folder.root / "approved" / "Sports Day" / "kept.jpg").exists()
    assert (folder.root / "rejected" / "Sports Day" / "kept.jpg").is_file()
    with audit.connect(create=False) as con:
        row = con.execute(
            "SELECT by, pupil_id FROM decisions WHERE action = 'taken-down'"
        ).fetchone()
    assert row == ("head", "P1")


def test_withdrawn_pupil_blocks_approval_until_rerendered(tmp_path: Path) -> None:
    f = watched_folder(tmp_path, {"kept.jpg": KEPT})
    CliRunner().invoke(main, ["withdraw", "P1", "--consent", str(f.consent)])
    desk = f.desk()
    item = by_key(desk, "ready/kept.jpg")
    with pytest.raises(ReviewError, match="consent has changed"):
        desk.approve(item.id, "head")
    before = rgb(item.path)
    item = desk.blur_more(item.id, [FACE_A.scaled(0.5)], "head")  # re-judged with today's log
    assert item.kept_pupils == () and detail(rgb(item.path), FACE_A) < 0.5 * detail(before, FACE_A)
    desk.approve(item.id, "head")


def test_add_user_hash_only_owner_only(tmp_path: Path, folder: Folder) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["review", "add-user", str(folder.root), "deputy", "--role",
                               "approver"], input="a long passphrase here\n")  # fmt: skip
    assert res.exit_code == 0, res.output
    path = folder.root / ".anonymiser" / "review-users.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "a long passphrase here" not in text and "$argon2id$" in text
    store = UserStore.for_root(folder.root)
    assert store.verify("deputy", "a long passphrase here").role == "approver"
    assert store.verify("deputy", "wrong") is None and store.verify("nobody", "x" * 12) is None
    res = runner.invoke(main, ["review", "add-user", str(folder.root), "x"], input="short\n")
    assert res.exit_code == 2 and "too short" in res.output


def test_not_a_watched_folder(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["review", "list", str(tmp_path)])
    assert res.exit_code == 3 and "not a watched folder" in res.output


# -- the web app: flows and security ------------------------------------------------------------


class Client:
    """Flask's test client with the login and CSRF handling a browser does."""

    def __init__(self, app: Any) -> None:
        self.http = app.test_client()

    def login(self, name: str = "head", password: str = PASSWORD) -> Any:
        page = self.http.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        return self.http.post("/login", data={"username": name, "password": password,
                                              "csrf": token})  # fmt: skip

    def csrf(self, path: str = "/") -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.http.get(path).text).group(1)

    def post(self, path: str, **data: Any) -> Any:
        return self.http.post(path, data={"csrf": self.csrf(), **data})


@pytest.fixture
def web(folder: Folder) -> tuple[Folder, ReviewDesk, Client]:
    desk = folder.desk()
    return folder, desk, Client(create_app(desk))


def test_every_page_needs_a_login(web: tuple[Folder, ReviewDesk, Client]) -> None:
    _, desk, c = web
    item = desk.queue().pending[0].id
    for path in ("/", f"/item/{item}", f"/photo/{item}", "/no-such-page", "/photo/../etc"):
        r = c.http.get(path)
        assert r.status_code == 303 and r.headers["Location"].endswith("/login"), path
    for path in ("/api/queue", "/api/nothing"):
        assert c.http.get(path).status_code == 401
    r = c.http.post(f"/item/{item}/approve", data={"csrf": "x"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/login")
    assert c.http.get("/healthz").status_code == 200
    login = c.http.get("/login")
    assert login.status_code == 200
    form = re.search(r'<form class="login" method="post" action="/login">.*?</form>', login.text,
                     re.S).group(0)  # fmt: skip
    assert 'name="username"' in form and 'name="password"' in form and 'type="password"' in form
    assert desk.queue().pending[0].state == "pending"


def test_headers_cookies_and_no_external_assets(folder: Folder) -> None:
    desk = folder.desk()
    c = Client(create_app(desk, Options(secure_cookies=True)))
    r = c.login()
    assert r.status_code == 303
    cookie = next(v for v in r.headers.getlist("Set-Cookie") if v.startswith("anonymiser_session"))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    for path in ("/", f"/item/{desk.queue().pending[0].id}", "/login", "/healthz"):
        r = c.http.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp and r.headers["X-Frame-Options"] == "DENY"
        assert not re.search(r"(src|href|action)=\"(https?:)?//", r.text), path
        assert "<script>" not in r.text and " style=" not in r.text  # nothing inline (CSP)
        assert not any(n in r.text for n in NAMES)


def test_post_without_csrf_token_is_refused(web: tuple[Folder, ReviewDesk, Client]) -> None:
    folder, desk, c = web
    r = c.http.post("/login", data={"username": "head", "password": PASSWORD})
    assert r.status_code == 403
    assert c.login().status_code == 303
    item = by_key(desk, "ready/nobody.jpg")
    for data in ({}, {"csrf": "forged"}):
        r = c.http.post(f"/item/{item.id}/approve", data=data)
        assert r.status_code == 403
        r = c.http.post("/logout", data=data)
        assert r.status_code == 403
    assert not (folder.root / "approved" / "nobody.jpg").exists()
    assert c.post(f"/item/{item.id}/approve", sha256=item.expected_sha256).status_code == 303
    assert (folder.root / "approved" / "nobody.jpg").is_file()


def test_traversal_and_originals_are_404(tmp_path: Path) -> None:
    folder = watched_folder(tmp_path, {"nobody.jpg": NOBODY, "rejected.jpg": NOBODY})
    broken = folder.root / "incoming" / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    from anonymiser.watch import Watcher, WatchOptions
    from tests.review_support import factory

    w = Watcher(WatchOptions(folder.root, folder.settings, folder.consent, settle=0.0),
                factory=factory)  # fmt: skip
    w.start()
    w.cycle()
    w.cycle()
    w.close()
    desk = folder.desk()
    c = Client(create_app(desk))
    c.login()
    good = by_key(desk, "ready/nobody.jpg")
    gone = by_key(desk, "ready/rejected.jpg")
    desk.reject(gone.id, "head", "test")
    from anonymiser.watch.journal import Journal

    with Journal(folder.root / ".anonymiser" / "journal.sqlite", create=False) as j:
        failed = [r.id for r in j.all() if r.state == "failed"]
    assert failed
    paths = [
        "/photo/../originals/nobody.jpg", "/photo/..%2foriginals%2fnobody.jpg",
        "/photo/%2e%2e/%2e%2e/originals/nobody.jpg", "/photo/..%252f..%252foriginals",
        "/static/..%2f..%2fcli.py", "/static/../approval/desk.py", "/static/%2e%2e%2fpy.typed",
        "/originals/nobody.jpg", "/ready/nobody.jpg", "/photo/nobody.jpg", "/photo/-1",
        f"/photo/{failed[0]}", f"/photo/{gone.id}", f"/item/{failed[0]}", "/photo/999999",
        f"/photo/{good.id}/../../originals/nobody.jpg",
    ]  # fmt: skip
    for path in paths:
        r = c.http.get(path)
        assert r.status_code == 404, (path, r.status_code)
    r = c.http.get(f"/photo/{good.id}")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    served = rgb(r.data)
    original = rgb(folder.root / "originals" / "nobody.jpg")
    assert detail(served, FACE_A) < 0.5 * detail(original, FACE_A)  # the safe copy, blurred
    assert Image.open(io.BytesIO(r.data)).getexif() == {}


def test_five_wrong_passwords_throttle(web: tuple[Folder, ReviewDesk, Client]) -> None:
    _, _, c = web
    for _ in range(5):
        assert c.login(password="wrong password").status_code == 401
    r = c.login()  # the right password, too late
    assert r.status_code == 429 and "Too many failed attempts" in r.text
    assert c.login(name="office").status_code == 303  # another name is not locked out


def test_expired_session_redirects_to_login(folder: Folder) -> None:
    now = [1_000_000.0]
    c = Client(create_app(folder.desk(), Options(clock=lambda: now[0])))
    assert c.login().status_code == 303
    assert c.http.get("/").status_code == 200
    now[0] += 29 * 60
    assert c.http.get("/").status_code == 200  # still active
    now[0] += 31 * 60  # idle too long
    r = c.http.get("/")
    assert r.status_code == 303 and r.headers["Location"].endswith("/login?expired=1")
    assert "session has ended" in c.http.get("/login?expired=1").text
    assert c.http.get("/api/queue").status_code == 401
    assert c.login().status_code == 303 and c.http.get("/").status_code == 200


def test_web_flows_without_javascript(web: tuple[Folder, ReviewDesk, Client]) -> None:
    folder, desk, c = web
    c.login()
    page = c.http.get("/").text
    assert page.index("review/Sports Day/amb.jpg") < page.index("ready/nobody.jpg")
    amb = by_key(desk, "review/Sports Day/amb.jpg")
    r = c.post(f"/item/{amb.id}/approve", sha256=amb.expected_sha256)
    assert r.status_code == 409 and "confirm or fix region" in r.text
    r = c.post(f"/item/{amb.id}/confirm", region="1")
    assert r.status_code == 303
    assert "checked" in c.http.get(f"/item/{amb.id}").text
    r = c.post(f"/item/{amb.id}/approve", sha256=amb.expected_sha256)
    assert r.status_code == 303 and (folder.root / "approved/Sports Day/amb.jpg").is_file()
    nobody = by_key(desk, "ready/nobody.jpg")
    r = c.post(f"/item/{nobody.id}/blur", x=MISSED.x, y=MISSED.y, w=MISSED.w, h=MISSED.h)
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/item/{nobody.id}")
    page = c.http.get(f"/item/{nobody.id}").text
    assert "Area blurred: added by a reviewer" in page and "Re-rendered" in page
    # the page's sha is the new file's: approving what was shown works, a stale sha does not
    r = c.post(f"/item/{nobody.id}/approve", sha256=nobody.expected_sha256)
    assert r.status_code == 409 and "changed while you looked" in r.text
    fresh = re.search(r'name="sha256" value="([0-9a-f]{64})"', page).group(1)
    assert c.post(f"/item/{nobody.id}/approve", sha256=fresh).status_code == 303
    kept = by_key(desk, "ready/Sports Day/kept.jpg")
    r = c.post(f"/item/{kept.id}/reject", reason="a name on a bag")
    assert r.status_code == 303 and (folder.root / "rejected/Sports Day/kept.jpg").is_file()
    api = c.http.get("/api/queue").get_json()
    assert api["pending"] == [] and len(api["decided"]) == 3


def test_viewer_cannot_decide(web: tuple[Folder, ReviewDesk, Client]) -> None:
    folder, desk, c = web
    c.login("office")
    item = by_key(desk, "ready/nobody.jpg")
    page = c.http.get(f"/item/{item.id}").text
    assert "Approve for publishing" not in page and "viewer" in page
    r = c.post(f"/item/{item.id}/approve", sha256=item.expected_sha256)
    assert r.status_code == 409 and "only an approver" in r.text
    assert not (folder.root / "approved" / "nobody.jpg").exists()


def test_web_take_down_list(web: tuple[Folder, ReviewDesk, Client]) -> None:
    folder, desk, c = web
    c.login()
    kept = by_key(desk, "ready/Sports Day/kept.jpg")
    desk.approve(kept.id, "head")
    CliRunner().invoke(main, ["withdraw", "P1", "--consent", str(folder.consent)])
    page = c.http.get("/").text
    assert page.index("Take down from where it was posted") < page.index("Waiting for approval")
    assert "approved/Sports Day/kept.jpg" in page and "pupil P1" in page
    decision = re.search(r'name="decision" value="(\d+)"', page).group(1)
    assert c.post("/takedown", decision=decision, pupil="P1").status_code == 303
    page = c.http.get("/").text
    assert "Take down from where it was posted" not in page and "marked by head" in page


def test_serve_in_a_subprocess_answers_healthz(folder: Folder) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "anonymiser", "review", "serve", str(folder.root), "--port",
           str(port), "--text", "off"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200 and r.read() == b"ok\n"
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.url.endswith("/login")  # redirected: every page needs a login
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert f"on http://127.0.0.1:{port}/" in err and "warning: serving" not in err


def test_serve_warns_when_it_serves_the_network(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anonymiser.approval.web as web

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(web, "serve", lambda desk, host, port, **kw: calls.append((host, port)))
    res = CliRunner().invoke(main, ["review", "serve", str(folder.root), "--host", "0.0.0.0"])
    assert res.exit_code == 0, res.output
    assert calls == [("0.0.0.0", 8765)]
    assert "warning: serving on 0.0.0.0:8765 to the network" in res.output and "HTTPS" in res.output
    assert web.is_loopback("127.0.0.1") and web.is_loopback("::1") and web.is_loopback("localhost")
    assert not web.is_loopback("192.168.1.10")
