"""The review page in a real headless browser (Debian's chromium), driven over the DevTools
protocol with a tiny stdlib websocket client: no console errors, no network requests, thumbnails
and markers visible in a screenshot, and basic accessibility (alt text, heading order, labelled
and focusable markers, text contrast >= 4.5:1)."""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from anonymiser import Settings
from anonymiser.results import Action, BatchResult, Box, ImageResult, Kind, Reason, Region, Status
from anonymiser.review import render_review, write_review

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt install chromium)"
)

CSS_VARS = re.compile(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})")


# -- a batch to show ---------------------------------------------------------------------------


class FakePupil:
    def __init__(self, pupil_id: str, first: str, last: str) -> None:
        self.pupil_id, self.first_name, self.last_name, self.preferred_name = (
            pupil_id,
            first,
            last,
            None,
        )


class FakeConsent:
    path = Path("/srv/school/consent.csv")
    sha256 = "5f" * 32

    def roster(self, on_date: date | None = None) -> list[FakePupil]:
        return [FakePupil("P0042", "Amelia", "Okafor"), FakePupil("P0043", "Theodore", "Blackwood")]


def _photo(path: Path, seed: int) -> Path:
    """A busy synthetic 'photo' (gradient and shapes), so blank pixels would stand out."""
    rng = np.random.default_rng(seed)
    h, w = 480, 640
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, 120)], axis=-1).astype(np.uint8)
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w - 80)), int(rng.integers(0, h - 80))
        draw.ellipse(
            (x0, y0, x0 + 70, y0 + 80), fill=tuple(int(v) for v in rng.integers(60, 230, 3))
        )
    im.save(path, "JPEG", quality=90)
    return path


def _batch(tmp: Path) -> BatchResult:
    out = tmp / "safe"
    out.mkdir()
    regions = (
        Region(Kind.FACE, Box(60, 80, 90, 110), 0.93, Action.BLURRED, Reason.NOT_IDENTIFIED),
        Region(Kind.FACE, Box(300, 90, 80, 100), 0.88, Action.KEPT, Reason.CONSENT, "P0043"),
        Region(Kind.TEXT, Box(240, 360, 220, 40), 0.8, Action.BLURRED, Reason.PUPIL_NAME, "P0042"),
        Region(Kind.FACE, Box(500, 60, 60, 70), 0.5, Action.BLURRED, Reason.AMBIGUOUS_MATCH),
    )
    return BatchResult(
        (
            ImageResult("in/Sports_day_1.jpg", str(_photo(out / "photo-0001.jpg", 1)), Status.OK,
                        640, 480, False, ("exif", "gps"), regions[:1]),
            ImageResult("in/Sports_day_2.jpg", str(_photo(out / "photo-0002.jpg", 2)), Status.OK,
                        640, 480, True, ("exif",), regions),
            ImageResult("in/Amelia_Okafor.jpg", None, Status.FAILED,
                        error="in/Amelia_Okafor.jpg: corrupt image: truncated"),
            ImageResult("in/empty.jpg", str(_photo(out / "photo-0004.jpg", 4)), Status.OK, 640, 480),
        ),
        seconds=3.2,
    )  # fmt: skip


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "review.html"
    write_review(path, _batch(tmp_path), Settings(on_date=date(2026, 10, 1)), FakeConsent())
    return path


# -- page content without a browser -----------------------------------------------------------


def test_page_is_self_contained_and_holds_no_names(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert "default-src 'none'" in html and "<script" not in html.lower()
    assert not re.search(r"(src|href)=\"(https?:|//)", html)  # nothing fetched
    assert "Amelia" not in html and "Okafor" not in html and "Blackwood" not in html
    assert "[name hidden]" in html  # the failed input's file name carried a pupil's name
    assert "P0043" in html and "5f" * 32 in html and "2026/27" in html
    # Needs-review photo first, then the failure, then the rest.
    assert html.index("photo-0002.jpg") < html.index("[name hidden]") < html.index("photo-0001.jpg")


def test_palette_contrast_at_least_4_5(page: Path) -> None:
    palette = dict(CSS_VARS.findall(page.read_text(encoding="utf-8")))
    pairs = [
        (fg, "paper")
        for fg in ("ink", "muted", "face-blurred", "text-blurred", "face-kept", "text-kept")
    ]
    pairs += [(fg, "panel") for fg in ("ink", "muted", "face-blurred", "text-blurred", "face-kept")]
    pairs += [("review-ink", "review-bg"), ("ink", "review-bg"), ("overlay-ink", "overlay")]
    pairs += [
        ("overlay-ink", bg) for bg in ("face-blurred", "text-blurred", "face-kept", "review-ink")
    ]
    for fg, bg in pairs:
        assert contrast(palette[fg], palette[bg]) >= 4.5, (fg, bg)


def _lum(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = _lum(a), _lum(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def test_thumbnails_are_downscaled_outputs_without_metadata(tmp_path: Path) -> None:
    out = tmp_path / "big.jpg"
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    Image.new("RGB", (3000, 2000), (10, 200, 30)).save(out, "JPEG", exif=exif.tobytes())
    batch = BatchResult((ImageResult("in.jpg", str(out), Status.OK, 3000, 2000),))
    html = render_review(batch, Settings())
    uri = re.search(r'src="data:image/jpeg;base64,([^"]+)"', html)
    assert uri
    thumb = Image.open(io.BytesIO(base64.b64decode(uri.group(1))))
    assert max(thumb.size) <= 1024 and not thumb.getexif()


# -- the browser ---------------------------------------------------------------------------------


class DevTools:
    """A minimal Chrome DevTools Protocol client over a stdlib websocket."""

    def __init__(self, ws_url: str) -> None:
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", ws_url)
        assert m, ws_url
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )  # fmt: skip
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _send(self, text: str) -> None:
        data = text.encode()
        header = bytes([0x81])
        n = len(data)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("devtools closed the connection")
            buf += chunk
        return bytes(buf)

    def _recv(self) -> dict[str, Any]:
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            opcode = b0 & 0x0F
            if opcode in (0x1, 0x0):
                message += payload
                if b0 & 0x80:
                    return json.loads(message)
            elif opcode == 0x8:
                raise ConnectionError("devtools closed the websocket")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        mid = self.next_id
        self._send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = self._recv()
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for e in self.events:
            if e.get("method") == method:
                return e
        while time.monotonic() < deadline:
            msg = self._recv()
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")


@contextlib.contextmanager
def chromium(tmp: Path) -> Iterator[DevTools]:
    profile = tmp / "chromium-profile"
    profile.mkdir()
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", "--window-size=1280,1600", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        target = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(target["webSocketDebuggerUrl"])
        try:
            yield tools
        finally:
            tools.sock.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


A11Y_JS = r"""
(() => {
  const parse = c => { const p = c.match(/[\d.]+/g).map(Number); return p.length === 3 ? [...p, 1] : p; };
  const lum = c => c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
                    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bgOf = el => { for (; el; el = el.parentElement) { const c = parse(getComputedStyle(el).backgroundColor); if (c[3] > 0) return c; } return [255, 255, 255, 1]; };
  const low = []; let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode, el = t.parentElement;
    if (!t.textContent.trim() || el.closest('svg')) continue;
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden' || !el.getClientRects().length) continue;
    const a = lum(parse(cs.color)), b = lum(bgOf(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    checked++;
    if (ratio < 4.5) low.push([el.tagName, t.textContent.trim().slice(0, 40), ratio]);
  }
  const markers = [...document.querySelectorAll('svg a')];
  const focusable = markers.filter(a => { a.focus(); return document.activeElement === a; }).length;
  return {
    images: document.images.length,
    imagesLoaded: [...document.images].filter(i => i.complete && i.naturalWidth > 0).length,
    imagesWithoutAlt: [...document.images].filter(i => !(i.getAttribute('alt') || '').trim()).length,
    headings: [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]),
    markers: markers.length,
    unlabelledMarkers: markers.filter(a => !(a.getAttribute('aria-label') || '').trim()).length,
    focusableMarkers: focusable,
    contrastChecked: checked,
    lowContrast: low,
    lang: document.documentElement.lang,
    title: document.title,
  };
})()
"""


def _colour_pixels(png: Image.Image, hex_colour: str, tol: int = 40) -> int:
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int32)
    arr = np.asarray(png.convert("RGB"), dtype=np.int32)
    return int((np.abs(arr - target).max(axis=-1) <= tol).sum())


@pytest.mark.browser
@needs_chromium
def test_review_page_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    palette = dict(CSS_VARS.findall(page.read_text(encoding="utf-8")))
    with chromium(tmp_path) as tools:
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.call(f"{domain}.enable")
        tools.call("Page.navigate", url=page.as_uri())
        tools.wait_for("Page.loadEventFired")
        report = tools.evaluate(A11Y_JS)
        shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        # Click to enlarge: following the link makes the figure fill the window.
        tools.evaluate("document.querySelector('a.enlarge').click()")
        time.sleep(0.3)
        enlarged = tools.evaluate(
            "(() => { const f = document.querySelector('figure:target');"
            " return f ? [f.id, getComputedStyle(f).position, f.getBoundingClientRect().width] : null; })()"
        )
        big = tools.call("Page.captureScreenshot", format="png")
        events = list(tools.events)

    # No console errors, no exceptions (a CSP violation would be one), no network requests.
    errors = [e for e in events if e["method"] == "Runtime.exceptionThrown"]
    errors += [
        e
        for e in events
        if e["method"] == "Runtime.consoleAPICalled"
        and e["params"]["type"] in ("error", "warning", "assert")
    ]
    errors += [
        e
        for e in events
        if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning")
    ]
    assert errors == []
    urls = [
        e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"
    ]
    assert all(u.startswith(("file:", "data:")) for u in urls), urls

    # Accessibility basics.
    assert report["lang"] == "en-GB" and report["title"].startswith("Photo review")
    assert report["images"] == 3 and report["imagesLoaded"] == 3 and report["imagesWithoutAlt"] == 0
    heads = report["headings"]
    assert heads[0] == 1 and all(b <= a + 1 for a, b in itertools.pairwise(heads))
    assert report["markers"] == 5 and report["unlabelledMarkers"] == 0
    assert report["focusableMarkers"] == 5
    assert report["contrastChecked"] > 30 and report["lowContrast"] == []

    # The screenshot shows the thumbnails and the coloured outlines and markers.
    png = Image.open(io.BytesIO(base64.b64decode(shot["data"])))
    (tmp_path / "review.png").write_bytes(base64.b64decode(shot["data"]))
    assert png.size[0] >= 1200 and png.size[1] > 1600
    arr = np.asarray(png.convert("L"), dtype=np.float32)
    assert arr.std() > 30  # not a blank page
    for name in ("face-blurred", "face-kept", "text-blurred"):
        assert _colour_pixels(png, palette[name]) > 300, name

    assert enlarged is not None and enlarged[0].endswith("-view") and enlarged[1] == "fixed"
    assert enlarged[2] > 1000  # the photo now fills the window
    big_png = Image.open(io.BytesIO(base64.b64decode(big["data"])))
    dark = np.asarray(big_png.convert("L")) < 30
    assert dark.mean() > 0.05  # the dark overlay behind the enlarged photo


@pytest.mark.browser
@needs_chromium
def test_chromium_screenshot_and_dump_dom(page: Path, tmp_path: Path) -> None:
    """The plain command-line way: --dump-dom and --screenshot of the file."""
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    dom = subprocess.run(
        [*base, f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip
    assert dom.stdout.count("<img") == 3 and dom.stdout.count('class="marker"') == 5
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*base, f"--user-data-dir={tmp_path / 'p2'}", "--window-size=1280,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=90, check=True,
    )  # fmt: skip
    png = Image.open(shot)
    palette = dict(CSS_VARS.findall(page.read_text(encoding="utf-8")))
    assert _colour_pixels(png, palette["face-blurred"]) > 300
