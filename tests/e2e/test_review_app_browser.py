"""The review app in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium), served by waitress as in production: log in, approve, reject, draw a "blur more" box
with the mouse and see the re-rendered photo, approve with the keyboard only. Screenshots are
kept in the test's tmp folder (and copied to $ANONYMISER_SCREENSHOTS when set)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from anonymiser.approval.web import create_app, make_server
from tests.review_support import AMBIGUOUS, KEPT, MISSED, NOBODY, PASSWORD, Folder, watched_folder

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="chromium and chromium-driver are not installed (apt install chromium chromium-driver)",
    ),
    pytest.mark.skipif(
        not HAVE_SELENIUM, reason="selenium is not installed (pip install selenium)"
    ),
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Folder, str]]:
    folder = watched_folder(
        tmp_path,
        {"Sports Day/kept.jpg": KEPT, "Sports Day/amb.jpg": AMBIGUOUS, "nobody.jpg": NOBODY},
    )
    server = make_server(create_app(folder.desk()), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(5)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(arg)  # fmt: skip
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    keep = os.environ.get("ANONYMISER_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def left_login(driver: Any) -> None:
    """Wait for the answer to the login form (a click or key press returns before it)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: not d.current_url.endswith("/login"))


def log_in(driver: Any, base: str, name: str = "head") -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    assert driver.current_url.endswith("/login")
    driver.find_element(By.NAME, "username").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    left_login(driver)
    assert driver.current_url == base + "/"


def no_console_errors(driver: Any) -> None:
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []  # a CSP violation or a script error would show here


def open_item(driver: Any, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.LINK_TEXT, "Photo approval").click()
    driver.find_element(By.LINK_TEXT, key).click()


def test_log_in_approve_and_reject(
    served: tuple[Folder, str], browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    folder, base = served
    log_in(browser, base)
    queue = browser.find_element(By.TAG_NAME, "main").text
    assert queue.index("review/Sports Day/amb.jpg") < queue.index("ready/nobody.jpg")
    assert "needs review" in queue
    shot(browser, tmp_path, "1-queue")

    open_item(browser, "ready/nobody.jpg")
    img = browser.find_element(By.CSS_SELECTOR, ".frame img")
    assert (
        browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg a.marker")) == 2
    shot(browser, tmp_path, "2-item")
    browser.find_element(By.ID, "approve").click()
    # the notice is on the page the POST answers with: waiting for it waits for the approval
    assert "Approved ready/nobody.jpg" in browser.find_element(By.CSS_SELECTOR, ".notice.ok").text
    assert (folder.root / "approved" / "nobody.jpg").read_bytes() == (
        folder.root / "ready" / "nobody.jpg"
    ).read_bytes()

    open_item(browser, "ready/Sports Day/kept.jpg")
    browser.find_element(By.ID, "reason").send_keys("a name on the school bag")
    browser.find_element(By.CSS_SELECTOR, "form.reject button").click()
    assert (
        "Rejected ready/Sports Day/kept.jpg"
        in browser.find_element(By.CSS_SELECTOR, ".notice.ok").text
    )
    assert (folder.root / "rejected" / "Sports Day" / "kept.jpg").is_file()
    assert not (folder.root / "ready" / "Sports Day" / "kept.jpg").exists()
    shot(browser, tmp_path, "3-after-reject")
    no_console_errors(browser)


def test_draw_a_blur_more_box_with_the_mouse(
    served: tuple[Folder, str], browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    folder, base = served
    log_in(browser, base)
    open_item(browser, "ready/nobody.jpg")
    safe = folder.root / "ready" / "nobody.jpg"
    before = np.asarray(Image.open(safe).convert("RGB"), dtype=np.float32)
    img = browser.find_element(By.CSS_SELECTOR, ".frame img")
    rect = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", img
    )
    scale = rect[0] / before.shape[1]
    # drag from just outside the missed face's top-left to just past its bottom-right
    pad = 4
    x0, y0 = (MISSED.x - pad) * scale, (MISSED.y - pad) * scale
    x1, y1 = (MISSED.x2 + pad) * scale, (MISSED.y2 + pad) * scale
    chain = ActionChains(browser)
    chain.move_to_element_with_offset(img, int(x0 - rect[0] / 2), int(y0 - rect[1] / 2))
    chain.click_and_hold().move_by_offset(int((x1 - x0) / 2), int((y1 - y0) / 2))
    chain.move_by_offset(int((x1 - x0) / 2), int((y1 - y0) / 2)).perform()
    shot(browser, tmp_path, "4-drawing")  # the dashed box while the button is held
    ActionChains(browser).release().perform()
    values = [int(browser.find_element(By.ID, f"blur-{k}").get_attribute("value")) for k in "xywh"]
    x, y, w, h = values
    assert abs(x - (MISSED.x - pad)) <= 3 and abs(y - (MISSED.y - pad)) <= 3
    assert abs(w - (MISSED.w + 2 * pad)) <= 4 and abs(h - (MISSED.h + 2 * pad)) <= 4
    assert browser.switch_to.active_element.get_attribute("id") == "blur-submit"
    browser.switch_to.active_element.click()

    notice = browser.find_element(By.CSS_SELECTOR, ".notice.ok").text
    assert "Re-rendered ready/nobody.jpg" in notice
    assert (
        "Area blurred: added by a reviewer"
        in browser.find_element(By.CSS_SELECTOR, "ol.regions").text
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg rect.outline.manual-blurred")) == 1
    after = np.asarray(Image.open(safe).convert("RGB"), dtype=np.float32)
    inside = (slice(MISSED.y + 6, MISSED.y2 - 6), slice(MISSED.x + 6, MISSED.x2 - 6))
    assert after[inside].std() < 0.5 * before[inside].std()  # the freckles are gone
    # the browser shows the new photo: its pixels there are smooth too
    smooth = browser.execute_script(
        """
        const img = document.querySelector('.frame img');
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const [x, y, w, h] = arguments[0];
        const d = g.getImageData(x, y, w, h).data; let s = 0, s2 = 0, n = 0;
        for (let i = 0; i < d.length; i += 4) { const v = d[i + 1]; s += v; s2 += v * v; n++; }
        return Math.sqrt(s2 / n - (s / n) ** 2);
        """,
        [MISSED.x + 6, MISSED.y + 6, MISSED.w - 12, MISSED.h - 12],
    )
    assert smooth < 0.5 * before[inside][..., 1].std()
    shot(browser, tmp_path, "5-re-rendered")
    no_console_errors(browser)


def test_keyboard_only_approve(served: tuple[Folder, str], browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    folder, base = served

    def press(*keys: str) -> None:
        ActionChains(browser).send_keys(*keys).perform()

    def tab_to(predicate: Any, limit: int = 40) -> Any:
        for _ in range(limit):
            press(Keys.TAB)
            el = browser.switch_to.active_element
            if predicate(el):
                return el
        raise AssertionError("not reachable with the Tab key")

    browser.get(base + "/login")
    press("head", Keys.TAB, PASSWORD, Keys.ENTER)  # the name field has the focus
    left_login(browser)
    assert browser.current_url == base + "/"
    tab_to(lambda el: el.text == "review/Sports Day/amb.jpg")
    press(Keys.ENTER)
    # the flagged region first: confirm it with the keyboard, then approve
    assert not browser.find_element(By.ID, "approve").is_enabled()
    tab_to(lambda el: el.text.startswith("Skip to the decision"))
    press(Keys.ENTER)
    focused = tab_to(lambda el: el.text.startswith("Confirm region 1"), limit=2)
    shot(browser, tmp_path, "6-keyboard-focus")
    assert "outline" in focused.value_of_css_property("outline-style") or (
        focused.value_of_css_property("outline-style") != "none"
    )
    press(Keys.ENTER)
    assert "checked" in browser.find_element(By.CSS_SELECTOR, "ol.regions").text
    assert browser.find_element(By.ID, "approve").is_enabled()
    tab_to(lambda el: el.text.startswith("Skip to the decision"))
    press(Keys.ENTER)
    tab_to(lambda el: el.get_attribute("id") == "approve", limit=2)
    press(Keys.ENTER)
    assert (folder.root / "approved" / "Sports Day" / "amb.jpg").is_file()
    assert (
        "Approved review/Sports Day/amb.jpg"
        in browser.find_element(By.CSS_SELECTOR, ".notice.ok").text
    )
    shot(browser, tmp_path, "7-keyboard-approved")
    no_console_errors(browser)
