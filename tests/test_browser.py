"""Real-browser test: `streamlit run` + headless Debian chromium via Playwright.

Opens every page, waits until the script has finished, fails on any exception box, saves a
screenshot of each under tests/artifacts/. Required under CI (FACTORLAB_REQUIRE_BROWSER=1 or CI set):
a missing browser is a failure there, a skip elsewhere.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
REQUIRED = bool(os.environ.get("FACTORLAB_REQUIRE_BROWSER") or os.environ.get("CI"))
PAGES = sorted(p.stem for p in (REPO / "pages").glob("[0-9]*.py"))


def _need(cond: bool, why: str) -> None:
    if not cond:
        (pytest.fail if REQUIRED else pytest.skip)(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(ml100k_dir):
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy in 60 s (see tests/artifacts/streamlit.log)")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    _need(os.path.exists(CHROMIUM), f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        yield b
        b.close()


def _settle(page, timeout_ms=120_000):
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    # the script state flips to running and back; wait until it has stayed idle a moment
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=timeout_ms)
    page.wait_for_timeout(800)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=timeout_ms)


def _check(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    boxes = page.locator("[data-testid='stException']")
    if boxes.count():
        pytest.fail(f"exception on {name}: {boxes.first.inner_text()[:2000]}")


@pytest.mark.parametrize("stem", ["app"] + PAGES)
def test_page_opens_without_exception(server, browser, stem):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    path = "" if stem == "app" else stem.split("_", 1)[1]
    page.goto(f"{server}/{path}", timeout=60_000)
    _settle(page)
    _check(page, stem)
    assert page.locator("[data-testid='stSidebar']").count() == 1
    assert not errors, errors
    page.close()
