"""Feature maps in a real browser: upload a photo, click a channel, survive a corrupt upload."""

from __future__ import annotations

import pytest

from tests.browser.conftest import errors_on, screenshot, wait_for_app
from tests.conftest import needs_fixtures

pytestmark = [pytest.mark.browser, needs_fixtures]


def _caption_texts(page) -> str:
    return " ".join(page.locator('[data-testid="stCaptionContainer"], [data-testid="stImageCaption"]').all_inner_texts())


def _settle(page, until: str | None = None) -> None:
    """Wait for the rerun an action started: until ``until`` is on the page, then until the script is done."""
    page.wait_for_timeout(800)
    if until:
        page.get_by_text(until).first.wait_for(timeout=120_000)
    wait_for_app(page)


@pytest.mark.slow
def test_upload_click_and_corrupt_file(server, page, fixture_images):
    # Open the root first: with a pages/ folder Streamlit 1.67 starts in its old folder-based navigation
    # until streamlit_app.py has run st.navigation once (a class-level flag), which sets the wide layout.
    page.goto(server)
    wait_for_app(page)
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.goto(f"{server}/feature_maps")
    wait_for_app(page)
    assert errors_on(page) == []
    page.get_by_role("button", name="Use MobileNetV2 instead").click()
    _settle(page, "112x112 pixels x 32 channels")
    assert errors_on(page) == []
    assert "Conv1_relu: 112x112 pixels x 32 channels" in _caption_texts(page)

    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Upload", exact=True).click()
    _settle(page, "Upload a photo")
    sidebar.locator('input[type="file"]').set_input_files(str(fixture_images / "dog.jpg"))
    _settle(page, "upload: dog.jpg")
    assert errors_on(page) == []
    assert "upload: dog.jpg" in _caption_texts(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 3
    screenshot(page, "feature_maps_upload")

    # click the second tile of the channel grid: the enlarged channel becomes the rank-2 channel
    grid = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    box = grid.locator(".nsewdrag").first.bounding_box()
    cols = 8  # 32 channels of 112x112: 4 rows of 8
    grid.locator(".nsewdrag").first.click(position={"x": box["width"] * 1.5 / cols, "y": box["height"] * 0.5 / cols})
    _settle(page, "Rank 2 of 32")
    assert "Rank 2 of 32" in _caption_texts(page), _caption_texts(page)
    screenshot(page, "feature_maps_clicked")

    # a corrupt file: a clear error, and the dog photo stays
    data = (fixture_images / "dog.jpg").read_bytes()
    sidebar.locator('input[type="file"]').set_input_files(
        files=[{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": data[: len(data) // 3]}])
    _settle(page, "Still showing the previous photo")
    errors = errors_on(page)
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "truncated" in errors[0], errors
    assert "Still showing the previous photo" in _caption_texts(page)
    assert "upload: dog.jpg" in _caption_texts(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "feature_maps_corrupt_upload")
