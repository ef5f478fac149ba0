"""``restyle web`` in a real browser: Playwright driving the system Chromium (Playwright's own browser download is not
reachable here). Upload an asset and a style, run a short job on an offline backbone, stop and resume it, see the
result in the 3D viewer, download the GLB and validate it; a bad upload shows a message; a reload finds the job.

Skipped, with the reason in pytest's summary, only where no Chromium is installed; ``.ci/run`` installs one first.
Set RESTYLE_SCREENSHOT=docs/web_app.png to also save the README's screenshot of the finished page.
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image


def _chromium() -> str | None:
    return os.environ.get("RESTYLE_CHROMIUM") or next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None)


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(_chromium() is None, reason="no Chromium found (apt-get install chromium, or set "
                       "RESTYLE_CHROMIUM): the browser tests of restyle web were skipped"),
]
TIMEOUT_MS = 300_000
SPOT_FILES = ("spot.obj", "spot.mtl", "spot_texture.png")  # an OBJ with its MTL and texture, as an artist drops them


@pytest.fixture(scope="module")
def browser_page(web_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # SwiftShader gives headless Chromium the WebGL that the 3D viewer needs on a machine without a GPU
        browser = playwright.chromium.launch(executable_path=_chromium(),
                                             args=["--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        local = web_app.url.rstrip("/")
        outbound: list[str] = []
        page.on("request", lambda request: None if request.url.startswith((local, "data:", "blob:"))
                else outbound.append(request.url))
        page.goto(web_app.url)
        page.wait_for_selector("#run", timeout=60_000)
        yield page, outbound
        browser.close()


def _pick(page, dropdown: str, option: str) -> None:
    page.click(f"#{dropdown} input")
    page.get_by_role("option", name=option).click()


def _viewer_pixels(page, selector: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB"), dtype=float)


def _wait_for_status(page, pattern: str) -> None:
    """Until the status line matches the regular expression ``pattern``."""
    page.wait_for_function(
        "pattern => new RegExp(pattern).test(document.querySelector('#status')?.innerText || '')", arg=pattern,
        timeout=TIMEOUT_MS,
    )


def test_upload_run_stop_resume_view_and_download(browser_page, assets, gltf_validator, tmp_path) -> None:
    page, outbound = browser_page
    empty_viewer = _viewer_pixels(page, "#result-3d")
    spot = assets / "meshes" / "spot"
    page.set_input_files("#mesh-files input[type=file]", [str(spot / name) for name in SPOT_FILES])
    page.set_input_files("#style-files input[type=file]", str(assets / "styles" / "vangogh_starry_night.jpg"))
    _pick(page, "preset", "draft")
    _pick(page, "backbone", "patch (offline, no network)")
    page.get_by_text("Options").click()
    page.locator("#steps").get_by_role("textbox").fill("40")
    page.click("#run")

    _wait_for_status(page, r"Running: step [1-9]")  # past the first step: there is something to resume
    page.click("#stop")
    _wait_for_status(page, "Stopped")
    page.click("#resume")
    _wait_for_status(page, "Done: step 40 / 40")

    page.wait_for_selector("#result-3d canvas", timeout=60_000)
    page.wait_for_timeout(3000)  # the viewer loads the GLB and draws it
    shown = _viewer_pixels(page, "#result-3d")
    assert shown.std() > 5, "the 3D viewer is blank"
    assert np.abs(shown - empty_viewer).mean() > 2, "the 3D viewer looks as it did before the result"

    with page.expect_download(timeout=60_000) as download:
        page.locator('#downloads a[download="spot_stylized.glb"]').click()
    glb = tmp_path / "downloaded.glb"
    download.value.save_as(glb)
    assert gltf_validator(glb)["issues"]["numErrors"] == 0

    screenshot = os.environ.get("RESTYLE_SCREENSHOT")
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
    assert outbound == [], f"the page fetched from outside this machine: {outbound}"


def test_a_reload_finds_the_job_again(browser_page) -> None:
    page, _ = browser_page
    page.reload()
    page.wait_for_selector("#run", timeout=60_000)
    _wait_for_status(page, "Done: step 40 / 40")


def test_a_bad_upload_shows_a_message(browser_page, style_image, tmp_path) -> None:
    page, _ = browser_page
    fake = tmp_path / "model.obj"
    fake.write_text("this is not a mesh\n")
    page.set_input_files("#mesh-files input[type=file]", str(fake))
    page.set_input_files("#style-files input[type=file]", str(style_image))
    page.click("#run")
    page.wait_for_function(
        "() => (document.querySelector('#message')?.innerText || '').includes('model.obj')", timeout=60_000
    )
    assert "Traceback" not in page.locator("#message").inner_text()
    _wait_for_status(page, "Done")  # the finished job on the page is not disturbed

