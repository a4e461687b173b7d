"""The review app over HTTP: server-rendered pages (Flask), served by waitress.

Security (a school LAN is not a safe network):

* every page but ``/login``, ``/healthz`` and the app's own CSS/JS needs a login: pages redirect
  to ``/login``, ``/api/...`` answers 401;
* sessions live on the server (SQLite, token hashes only); the cookie is HttpOnly,
  SameSite=Strict (and Secure behind HTTPS); sessions end after 30 minutes idle or 12 hours;
* every POST carries a CSRF token (the session's; for the login form, a cookie's), compared in
  constant time; a POST without it gets 403;
* logins are throttled: after 5 failures for one name, or 20 from one address, in 15 minutes,
  no password is even checked until the window has passed (429);
* photos are served only by item id, as a re-encoded JPEG of the safe copy in ``ready/``,
  ``review/`` or ``approved/``: never a path from the request, never an original;
* a strict Content Security Policy (nothing but this server's own CSS, JS and images), no
  framing, no referrer, no caching of pages or photos.

Everything works without JavaScript; the script only lets a reviewer draw a "blur more" box
with the mouse instead of typing its numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, redirect, request
from werkzeug.wrappers import Response

from anonymiser import Box, MediaError, __version__
from anonymiser.approval.desk import Item, ItemState, ReviewDesk
from anonymiser.approval.errors import ReviewError
from anonymiser.approval.users import User
from anonymiser.review import REASON_TEXT, markers, preview_jpeg, template_environment

log = logging.getLogger("anonymiser.review")

SESSION_COOKIE = "anonymiser_session"
LOGIN_COOKIE = "anonymiser_login"
SESSION_IDLE = 30 * 60.0
SESSION_MAX = 12 * 3600.0
THROTTLE_WINDOW = 15 * 60.0
THROTTLE_NAME = 5
THROTTLE_ADDR = 20
PREVIEW_SIDE = 1600
PREVIEW_CACHE = 32

CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC = {  # the only static files, by name
    "review.css": ("text/css; charset=utf-8", "anonymiser", "templates/review.css"),
    "app.css": ("text/css; charset=utf-8", "anonymiser.approval", "static/app.css"),
    "app.js": ("text/javascript; charset=utf-8", "anonymiser.approval", "static/app.js"),
    "favicon.svg": ("image/svg+xml", "anonymiser.approval", "static/favicon.svg"),
}
PUBLIC = {"login", "healthz", "static_file"}
LOGIN_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class Options:
    secure_cookies: bool = False  # behind HTTPS: cookies only over HTTPS
    session_idle: float = SESSION_IDLE
    session_max: float = SESSION_MAX
    clock: Callable[[], float] = time.time


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class Notices:
    """One-shot messages per session (shown on the next page), kept in memory."""

    def __init__(self) -> None:
        self._by_session: dict[str, list[tuple[str, str]]] = {}

    def add(self, session: str, kind: str, text: str) -> None:
        self._by_session.setdefault(session, []).append((kind, text))

    def pop(self, session: str) -> list[tuple[str, str]]:
        return self._by_session.pop(session, [])


def create_app(desk: ReviewDesk, options: Options | None = None) -> Flask:
    """The WSGI app for ``desk``'s watched folder."""
    opts = options or Options()
    app = Flask("anonymiser.approval", static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, SESSION_COOKIE_HTTPONLY=True)
    env = template_environment()
    notices = Notices()
    db = desk.db

    def render(template: str, status: int = 200, **context: Any) -> Response:
        page = env.get_template(f"approval/{template}.html.j2").render(
            tool=f"anonymiser {__version__}",
            user=g.get("user"),
            csrf=g.get("csrf", ""),
            notices=notices.pop(g.session) if g.get("session") else [],
            **context,
        )
        return Response(page, status, mimetype="text/html")

    def set_cookie(resp: Response, name: str, value: str, max_age: int | None) -> None:
        resp.set_cookie(
            name, value, max_age=max_age, path="/", secure=opts.secure_cookies, httponly=True,
            samesite="Strict",
        )  # fmt: skip

    def to_login(expired: bool = False) -> Response:
        if request.path.startswith("/api/"):
            denied = jsonify(error="login required")
            denied.status_code = 401
            return denied
        resp = redirect("/login?expired=1" if expired else "/login", 303)
        if expired:
            resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # -- every request ----------------------------------------------------------------------
    @app.before_request
    def authenticate() -> Response | None:
        g.user, g.session, g.csrf = None, None, ""
        token = request.cookies.get(SESSION_COOKIE)
        now = opts.clock()
        expired = False
        if token:
            key = _sha(token)
            row = db.session(key)
            if row is not None:
                if now - row.created > opts.session_max or now - row.seen > opts.session_idle:
                    db.end_session(key)
                    expired = True
                else:
                    user = desk.users.get(row.user)
                    if user is None:  # removed since
                        db.end_session(key)
                    else:
                        db.touch_session(key, now)
                        g.user, g.session, g.csrf = user, key, row.csrf
        if request.endpoint in PUBLIC:
            if request.method == "POST" and not _same(
                request.form.get("csrf"), request.cookies.get(LOGIN_COOKIE)
            ):
                return Response("CSRF token missing or wrong", 403, mimetype="text/plain")
            return None
        if g.user is None:
            return to_login(expired)
        if request.method == "POST" and not _same(request.form.get("csrf"), g.csrf):
            return Response("CSRF token missing or wrong", 403, mimetype="text/plain")
        return None

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        resp.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.endpoint != "static_file":
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_found(err: Any) -> Response:
        code = getattr(err, "code", 404)
        if request.path.startswith("/api/"):
            resp = jsonify(error="not found" if code == 404 else "method not allowed")
            resp.status_code = code
            return resp
        return render("error", code, title="Not found" if code == 404 else "Not allowed",
                      message="There is no such page or photo.")  # fmt: skip

    @app.errorhandler(413)
    def too_large(err: Any) -> Response:
        return Response("request too large", 413, mimetype="text/plain")

    # -- public -----------------------------------------------------------------------------
    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", 200, mimetype="text/plain")

    @app.get("/static/<name>")
    def static_file(name: str) -> Response:
        entry = STATIC.get(name)
        if entry is None:
            return not_found(None)
        mime, package, filename = entry
        data = resources.files(package).joinpath(filename).read_bytes()
        resp = Response(data, 200, mimetype=mime.split(";")[0])
        resp.headers["Content-Type"] = mime
        resp.headers["Cache-Control"] = "private, max-age=300"
        return resp

    def login_page(status: int = 200, message: str | None = None, name: str = "") -> Response:
        # Keep the browser's token: a second GET (a favicon request redirected here, another
        # tab) must not invalidate the form already shown.
        token = request.cookies.get(LOGIN_COOKIE) or ""
        if not LOGIN_TOKEN.fullmatch(token):
            token = secrets.token_urlsafe(32)
        resp = render("login", status, login_csrf=token, message=message, name=name,
                      expired=request.args.get("expired") == "1")  # fmt: skip
        set_cookie(resp, LOGIN_COOKIE, token, 3600)
        return resp

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        if request.method == "GET":
            if g.user is not None:
                return redirect("/", 303)
            return login_page()
        name = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        addr = request.remote_addr or "?"
        now = opts.clock()
        since = now - THROTTLE_WINDOW
        if (
            db.failures_since(since, name=name) >= THROTTLE_NAME
            or db.failures_since(since, addr=addr) >= THROTTLE_ADDR
        ):
            log.warning("login throttled for %r from %s", name, addr)
            return login_page(429, "Too many failed attempts. Wait 15 minutes and try again.",
                              name)  # fmt: skip
        user = desk.users.verify(name, password) if name and password else None
        if user is None:
            db.add_failure(name, addr, now)
            log.warning("failed login for %r from %s", name, addr)
            return login_page(401, "Wrong name or password.", name)
        db.clear_failures(name)
        db.end_sessions_before(now - opts.session_max, now - opts.session_idle)
        token = secrets.token_urlsafe(32)
        db.add_session(_sha(token), user.name, secrets.token_urlsafe(32), now)
        log.info("%s logged in from %s", user.name, addr)
        resp = redirect("/", 303)
        set_cookie(resp, SESSION_COOKIE, token, int(opts.session_max))
        resp.delete_cookie(LOGIN_COOKIE, path="/")
        return resp

    # -- signed in --------------------------------------------------------------------------
    @app.post("/logout")
    def logout() -> Response:
        db.end_session(g.session)
        resp = redirect("/login", 303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/")
    def queue() -> Response:
        q = desk.queue()
        problem = None
        try:
            desk.consent()
        except ReviewError as err:
            problem = str(err)
        return render("queue", queue=q, problem=problem,
                      consent_given=desk.consent_path is not None)  # fmt: skip

    @app.get("/api/queue")
    def api_queue() -> Response:
        return jsonify(desk.queue().as_dict())

    @app.get("/item/<int:item_id>")
    def item_page(item_id: int) -> Response:
        try:
            item = desk.item(item_id)
        except ReviewError:
            return not_found(None)
        return show_item(item)

    def show_item(item: Item, status: int = 200, error: str | None = None) -> Response:
        if item.state is ItemState.REJECTED:
            return render("item", status, item=item, view=None, error=error)
        try:
            problems = desk.consent_problems(item) if item.state is ItemState.PENDING else []
        except ReviewError as err:
            problems = [str(err)]
        view = _view(item)
        return render("item", status, item=item, view=view, error=error, problems=problems,
                      sha=item.expected_sha256 or "", reasons=REASON_TEXT)  # fmt: skip

    previews: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
    previews_lock = threading.Lock()

    def preview(path: Path) -> bytes:
        """The JPEG shown for a safe copy; the last few are kept (a page is often reloaded)."""
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        with previews_lock:
            if key in previews:
                previews.move_to_end(key)
                return previews[key]
        data, _, _ = preview_jpeg(path, desk.settings, PREVIEW_SIDE, 88)
        with previews_lock:
            previews[key] = data
            while len(previews) > PREVIEW_CACHE:
                previews.popitem(last=False)
        return data

    @app.get("/photo/<int:item_id>")
    def photo(item_id: int) -> Response:
        try:
            path = desk.served_file(item_id)
            data = preview(path)
        except (ReviewError, MediaError, OSError) as err:  # 404 whatever it was: never say why
            log.info("photo %s not served: %s", item_id, err)
            return not_found(None)
        resp = Response(data, 200, mimetype="image/jpeg")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def decide(item_id: int, action: Callable[[User], Item], done: str) -> Response:
        user: User = g.user
        try:
            item = action(user)
        except ReviewError as err:
            try:
                current = desk.item(item_id)
            except ReviewError:
                return not_found(None)
            return show_item(current, 409, str(err))
        notices.add(g.session, "ok", done.format(key=item.key))
        nxt = next((i for i in desk.queue().pending if i.id != item.id), None)
        if item.state is ItemState.PENDING:  # blur more / confirm: look again
            return redirect(f"/item/{item.id}", 303)
        return redirect(f"/item/{nxt.id}" if nxt else "/", 303)

    @app.post("/item/<int:item_id>/approve")
    def approve(item_id: int) -> Response:
        seen = request.form.get("sha256") or None
        return decide(item_id, lambda u: desk.approve(item_id, u.name, seen_sha256=seen),
                      "Approved {key}: copied to approved/.")  # fmt: skip

    @app.post("/item/<int:item_id>/reject")
    def reject(item_id: int) -> Response:
        reason = request.form.get("reason") or ""
        return decide(item_id, lambda u: desk.reject(item_id, u.name, reason),
                      "Rejected {key}: moved to rejected/.")  # fmt: skip

    @app.post("/item/<int:item_id>/confirm")
    def confirm(item_id: int) -> Response:
        try:
            region = int(request.form.get("region", ""))
        except ValueError:
            region = 0
        return decide(item_id, lambda u: desk.confirm(item_id, region, u.name),
                      f"Region {region} confirmed.")  # fmt: skip

    @app.post("/item/<int:item_id>/blur")
    def blur_more(item_id: int) -> Response:
        def run(u: User) -> Item:
            try:
                box = Box(*(int(float(request.form.get(k, ""))) for k in ("x", "y", "w", "h")))
            except ValueError:
                raise ReviewError(
                    "give the area as four numbers: left, top, width, height"
                ) from None
            return desk.blur_more(item_id, [box], u.name)

        return decide(item_id, run, "Re-rendered {key} with the area blurred: check it again.")

    @app.post("/takedown")
    def takedown() -> Response:
        try:
            decision = int(request.form.get("decision", ""))
            pupil = request.form.get("pupil", "")
            desk.mark_taken_down(decision, pupil, g.user.name)
            notices.add(g.session, "ok", f"Marked as taken down ({pupil}).")
        except (ValueError, ReviewError) as err:
            notices.add(g.session, "error", str(err))
        return redirect("/", 303)

    return app


@dataclass(frozen=True, slots=True)
class View:
    """What the item page draws: the overlay markers and the flagged ones."""

    anchor: str
    title: str
    width: int
    height: int
    markers: list[Any]
    flagged: dict[int, bool]  # marker number -> settled
    alt: str


def _view(item: Item) -> View:
    r = item.result
    anchor = f"item-{item.id}"
    shown = markers(anchor, r.regions, r.width, r.height)
    flagged = {i + 1: i in item.settled for i in item.flagged}
    alt = (
        f"Safe copy {item.name}: {r.faces_blurred} faces blurred, {r.texts_blurred} text "
        f"regions blurred, {r.faces_kept} faces kept sharp"
        + (f" ({', '.join(item.kept_pupils)})" if item.kept_pupils else "")
        + "."
    )
    return View(anchor, item.name, r.width, r.height, shown, flagged, alt)


def make_server(app: Flask, host: str, port: int, *, behind_proxy: bool = False) -> Any:
    """A waitress server for ``app`` (``server.run()`` serves; ``server.close()`` stops)."""
    from waitress.server import create_server

    kw: dict[str, Any] = {
        "threads": 4,
        "ident": "anonymiser",
        "clear_untrusted_proxy_headers": True,
    }
    if behind_proxy:
        kw.update(trusted_proxy="127.0.0.1", trusted_proxy_headers={"x-forwarded-for",
                  "x-forwarded-proto", "x-forwarded-host"})  # fmt: skip
    return create_server(app, host=host, port=port, **kw)


def serve(
    desk: ReviewDesk,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    behind_proxy: bool = False,
) -> None:
    """Serve the review app until interrupted (Ctrl-C, SIGTERM)."""
    app = create_app(desk, Options(secure_cookies=behind_proxy))
    server = make_server(app, host, port, behind_proxy=behind_proxy)
    log.info("review app for %s on http://%s:%s/", desk.layout.root, host, server.effective_port)
    try:
        server.run()
    finally:
        server.close()


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
