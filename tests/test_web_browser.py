"""``tinysr serve``'s page in a real browser: Playwright driving the system's Chromium.

Playwright's own browser download is not used (and not reachable on the development machine):
the test launches Debian's Chromium (``apt-get install chromium``), or the browser named by
``TINYSR_CHROMIUM``. Without one, the test skips and says so. The screenshots go into the test's
output folder, and also into ``TINYSR_SCREENSHOTS`` if that is set (to look at them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from web_helpers import LiveServer, photo, png_bytes

from tinysr.web.app import create_app

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install 'tinysr[test]'")

CHROMIUM = os.environ.get("TINYSR_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium, "
                                                         "or set TINYSR_CHROMIUM to a Chromium executable)")
# Headless, and quiet: no background connections to Google's services (the machine may have no internet).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser_page():
    with LiveServer(create_app()) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url)
        yield page, errors
        browser.close()


def _screenshot(page, folder: Path, name: str) -> Path:
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("TINYSR_SCREENSHOTS"):
        Path(os.environ["TINYSR_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["TINYSR_SCREENSHOTS"]) / name)
    return path


def _natural_size(page, selector: str) -> tuple[int, int]:
    return tuple(page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]"))


def test_upload_compare_slide_and_look_inside(browser_page, tmp_path):
    page, errors = browser_page
    page.wait_for_selector("#samples button img")
    assert page.locator("#samples button").count() == 4
    assert page.locator("#model-right").input_value() == "srcnn"

    picture = tmp_path / "photo.png"
    picture.write_bytes(png_bytes(photo(60, 80)))
    page.set_input_files("#file", str(picture))
    assert "photo.png" in page.inner_text("#drop-text")
    page.click("#go")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Done')", timeout=120_000)
    assert _natural_size(page, "#result-right") == (240, 180)  # x3
    assert _natural_size(page, "#result-left") == (240, 180)
    assert page.inner_text("#label-left") == "bicubic" and page.inner_text("#label-right") == "srcnn"
    assert page.get_attribute("#download", "href").startswith("blob:")

    page.locator("#slider").fill("20")
    assert "20%" in page.eval_on_selector("#result-right", "img => getComputedStyle(img).clipPath")
    page.click("#zoom button[data-zoom='4']")
    assert page.eval_on_selector("#stage", "s => s.getBoundingClientRect().width") == pytest.approx(960, abs=1)
    page.click("#zoom button[data-zoom='fit']")

    page.check("#pretend")
    page.click("#go")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Done')", timeout=120_000)
    assert _natural_size(page, "#result-right") == (78, 60)  # the photo shrunk x3 and upscaled again
    rows = page.locator("#metrics tbody tr")
    assert rows.count() == 2 and float(rows.nth(1).locator("td").nth(1).inner_text()) > 20
    _screenshot(page, tmp_path, "compare.png")

    page.click("#stage", position={"x": 100, "y": 100})
    assert page.is_visible("#crop-box")
    page.select_option("#crop-size", "16")
    page.click("#inspect-go")
    page.wait_for_selector("#layers img", timeout=120_000)
    page.wait_for_function("[...document.querySelectorAll('#inspection img')].every(i => i.complete && i.naturalWidth)")
    assert page.locator("#layers figure").count() == 2  # SRCNN: its 64 and 32 feature maps
    assert "64 maps" in page.inner_text("#layers figure >> nth=0")
    assert page.locator("#weight-gradients .bar").count() == 6
    assert "dL/d(input)" in page.inner_text("#inspection")
    shot = _screenshot(page, tmp_path, "inside.png")
    assert shot.stat().st_size > 10_000
    assert errors == []


def test_drop_a_file_and_pick_a_sample(browser_page, tmp_path):
    page, errors = browser_page
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array([137, 80, 78, 71])], "dropped.png", {type: "image/png"}));
        document.querySelector('#drop').dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true}));
    }""")
    assert "dropped.png" in page.inner_text("#drop-text")
    page.click("#go")  # four bytes are not an image: the server says so, and the page shows it
    page.wait_for_selector("#status.error")
    assert "expected an image file" in page.inner_text("#status")

    page.locator("#samples button").first.click()
    page.wait_for_function("document.querySelector('#drop-text').textContent.includes('.png (')")
    page.select_option("#scale", "2")
    page.select_option("#model-right", "fsrcnn")
    page.click("#go")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Done')", timeout=120_000)
    assert page.inner_text("#label-right") == "fsrcnn"
    _screenshot(page, tmp_path, "sample.png")
    assert errors == []
