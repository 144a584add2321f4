"""`visorch app` in a real browser: headless Debian Chromium driven by Playwright, on loopback.

Screenshots of each tab land in ``$VISORCH_TEST_ARTIFACTS`` (default: ``reports/screenshots`` in
the repository, which git ignores), so a person can look at what the page showed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("VISORCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ANSWER_TIMEOUT_MS = 420_000  # the embedded LLM on 2 shared cores; the page streams progress meanwhile


def _artifacts() -> Path:
    folder = Path(os.environ.get("VISORCH_TEST_ARTIFACTS", ROOT / "reports" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`visorch app` started as a user would, on a free loopback port."""
    pytest.importorskip("gradio")
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "visorch.cli", "app", "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"visorch app did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.parametrize(
    "route",
    ["gradio_api/file=/etc/passwd", "gradio_api/file=..%2F..%2F..%2F..%2Fetc%2Fpasswd", "file=/etc/passwd",
     "gradio_api/file=README.md", "gradio_api/file={link}", "static/../../../../etc/passwd"],
)  # fmt: skip
def test_the_app_serves_no_file_outside_what_it_made(app_url: str, tmp_path: Path, route: str) -> None:
    link = tmp_path / "passwd.jpg"
    link.symlink_to("/etc/passwd")
    try:
        with urllib.request.urlopen(app_url + route.format(link=link), timeout=30) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status, body = error.code, b""
    assert status in (403, 404) and b"root:" not in body


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: object, app_url: str) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    opened = context.new_page()
    opened.goto(app_url, wait_until="networkidle")
    yield opened
    context.close()


@pytest.mark.slow
def test_ask_tab_answers_with_an_annotated_image(page, bus_path: Path) -> None:
    page.locator("#ask-image input[type=file]").set_input_files(str(bus_path))
    page.locator("#ask-question textarea").fill("How many people are in the picture?")
    page.locator("#ask-button").click()
    answer = page.locator("#ask-answer textarea")
    try:
        page.wait_for_function(
            "() => document.querySelector('#ask-answer textarea').value.trim().length > 0", timeout=ANSWER_TIMEOUT_MS
        )
    except Exception:
        page.screenshot(path=str(_artifacts() / "ask-tab-timeout.png"), full_page=True)
        raise AssertionError(f"no answer; the page said: {page.locator('#ask-status').inner_text()!r}") from None
    assert any(character.isdigit() for character in answer.input_value()), answer.input_value()
    annotated = page.locator("#ask-annotated img")
    annotated.wait_for(state="visible", timeout=30_000)
    assert page.locator("#ask-programs").inner_text().count("Round") >= 1
    programs = page.locator("#ask-programs").inner_text()
    assert "LOC" in programs or "HOW_MANY" in programs  # LOC + COUNT runs as HOW_MANY with the fused experts
    page.screenshot(path=str(_artifacts() / "ask-tab.png"), full_page=True)


@pytest.mark.slow
def test_corrupt_upload_shows_an_error_on_the_page(page, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 20)
    page.locator("#ask-image input[type=file]").set_input_files(str(corrupt))
    page.locator("#ask-question textarea").fill("How many people are in the picture?")
    page.locator("#ask-button").click()
    status = page.locator("#ask-status")
    page.wait_for_function(
        "() => /corrupt or truncated/.test(document.querySelector('#ask-status').innerText)", timeout=60_000
    )
    text = page.locator("body").inner_text()
    assert "Traceback" not in text
    assert "Error" in text
    page.screenshot(path=str(_artifacts() / "ask-tab-error.png"), full_page=True)
    assert status is not None


@pytest.mark.slow
def test_program_tab_validates_as_you_type_and_runs_a_library_program(page, bus_path: Path) -> None:
    from visorch.programs.library import resolve_program

    page.get_by_role("tab", name="Program").click()
    source = page.locator("#program-source textarea")
    source.fill("BOX0=LOC(image=IMAGE, object='person'\nFINAL=RESULT(var=BOX0)")
    page.wait_for_function("() => /Invalid/.test(document.querySelector('#program-check').innerText)", timeout=30_000)
    page.locator("#program-pick input").click()
    page.get_by_role("option", name="count_people").click()
    page.wait_for_function(
        "() => /COUNT/.test(document.querySelector('#program-source textarea').value)", timeout=30_000
    )
    assert source.input_value() == resolve_program("count_people")[0]
    page.wait_for_function("() => /Valid:/.test(document.querySelector('#program-check').innerText)", timeout=30_000)
    page.locator("#program-image input[type=file]").set_input_files(str(bus_path))
    page.locator("#program-run").click()
    page.wait_for_function(
        "() => document.querySelector('#program-result textarea').value.trim().length > 0", timeout=120_000
    )
    assert page.locator("#program-result textarea").input_value().strip().isdigit()
    assert "ran in" in page.locator("#program-status").inner_text()
    page.screenshot(path=str(_artifacts() / "program-tab.png"), full_page=True)


@pytest.mark.slow
def test_correct_tab_removes_invented_objects(page, bus_path: Path) -> None:
    page.get_by_role("tab", name="Correct").click()
    page.locator("#correct-image input[type=file]").set_input_files(str(bus_path))
    page.locator("#correct-text textarea").fill("Three dogs stand next to a red bus.")
    page.locator("#correct-button").click()
    page.wait_for_function(
        "() => document.querySelector('#correct-result textarea').value.trim().length > 0", timeout=ANSWER_TIMEOUT_MS
    )
    corrected = page.locator("#correct-result textarea").input_value()
    assert "dog" not in corrected.lower() and "bus([" in corrected
    claims = page.locator("#correct-claims").inner_text()
    assert "removed" in claims and "supported" in claims
    page.screenshot(path=str(_artifacts() / "correct-tab.png"), full_page=True)


def test_chromium_is_the_debian_build() -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    assert shutil.which(str(CHROMIUM)) is not None
