"""End to end: the widget in headless Chromium against a real server started here.

Type a question, get the answer (rendered safely), click "not helpful", see the ticket.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
XSS = '<img src=x onerror="window.__pwned=1">'


def _require_browser() -> None:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium/chromedriver not installed (apt-get install -y chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, embedder) -> Iterator[tuple[str, str]]:
    """A uvicorn server in a thread on a free loopback port: (base URL, a reader's token)."""
    _require_browser()
    import uvicorn

    from kb.engine import KnowledgeBase
    from kb.settings import Settings
    from search_api.app import build_services, create_app

    settings = Settings(home=tmp_path / "kbhome", auth="on", embedder="e5")
    services = build_services(settings, kb=KnowledgeBase(settings, embedder=embedder))
    hd = services.helpdesk
    hd.create_desk("it", agent_group="it-agents")
    hd.create_faq(
        "it",
        {
            "id": "pin",
            "question": "How do I reset my card PIN?",
            "variants": ["I forgot my PIN"],
            "answer": f"Open **Settings** then *Card*. {XSS} [help](javascript:alert(1))",
        },
    )
    token = services.kb.tokens.create("bob", [])
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, services=services), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    yield f"http://127.0.0.1:{port}", token
    srv.should_exit = True
    th.join(timeout=10)


@pytest.fixture
def browser(tmp_path) -> Iterator:
    """Headless Chromium with a throw-away profile and no background network."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_ask_answer_not_helpful_ticket(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = server
    browser.get(f"{base}/widget/?desk=it&lang=en&token={token}")
    wait = WebDriverWait(browser, 30)
    box = wait.until(ec.presence_of_element_located((By.ID, "hd-question")))
    assert browser.find_element(By.ID, "hd-ask").text == "Ask"
    box.send_keys("I forgot my PIN")
    browser.find_element(By.ID, "hd-ask").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "hd-answer"), "Settings"))
    answer = browser.find_element(By.ID, "hd-answer")
    assert answer.find_element(By.TAG_NAME, "strong").text == "Settings"
    # The injected markup is shown as text, not turned into an element; the javascript: link is dropped.
    assert "<img" in answer.text and not answer.find_elements(By.TAG_NAME, "img")
    assert not answer.find_elements(By.TAG_NAME, "a")
    assert browser.execute_script("return window.__pwned === undefined")
    browser.find_element(By.ID, "hd-not-helpful").click()
    wait.until(ec.visibility_of_element_located((By.ID, "hd-ticket")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "hd-ticket-state"), "open"))
    assert browser.find_element(By.ID, "hd-ticket-id").text.isdigit()
    # The language switch re-labels the UI in Chinese.
    browser.find_element(By.ID, "hd-lang").click()
    assert browser.find_element(By.ID, "hd-ask").text == "提问"
    wait.until(ec.text_to_be_present_in_element((By.ID, "hd-ticket-state"), "待处理"))
