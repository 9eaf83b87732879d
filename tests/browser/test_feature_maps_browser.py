"""Feature maps in a real browser: the first view at 1440x900, its sections, presentation mode, a lesson
link, clicks on the channel grid and on a feature map, and a corrupt upload."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import ARTIFACTS, errors_on, screenshot, wait_for_app, wait_for_charts
from tests.conftest import needs_fixtures

pytestmark = [pytest.mark.browser, needs_fixtures]

WIDTH, HEIGHT = 1440, 900


def _caption_texts(page) -> str:
    captions = page.locator('[data-testid="stCaptionContainer"], [data-testid="stImageCaption"]')
    return " ".join(captions.all_inner_texts())


def _settle(page, until: str | None = None) -> None:
    """Wait for the rerun an action started: until ``until`` is on the page, then until the script is done."""
    if until:
        page.get_by_text(until).first.wait_for(timeout=120_000)
    wait_for_app(page)


def _view(page, name: str) -> None:
    """What a 1440x900 screen shows (not the whole page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def _in_view(box) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= HEIGHT


def _warnings(page) -> list[str]:
    return page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts()


def _tab(page, name: str, until: str) -> None:
    page.get_by_role("tab", name=name).click()
    _settle(page, until)


@pytest.mark.slow
def test_first_view_sections_and_presentation_at_1440x900(server, browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.goto(server)  # the app shell first (see test_deep_link), then the page
    wait_for_app(page)
    page.goto(f"{server}/feature_maps")
    wait_for_charts(page)
    assert errors_on(page) == [] and _warnings(page) == []  # only MobileNet weights here: no nagging
    assert "Conv1_relu: 112x112 pixels x 32 channels" in _caption_texts(page)
    _view(page, "feature_maps_first_view")

    _tab(page, "Where does it look?", "Ran Grad-CAM")
    assert errors_on(page) == []
    assert page.get_by_text("Ran Grad-CAM on MobileNetV2").first.is_visible()
    _view(page, "feature_maps_gradcam")
    _tab(page, "Convolution by hand", "The network computed")
    assert errors_on(page) == []
    _view(page, "feature_maps_conv_by_hand")

    # the paint button and the picture it animates are on one screen while it runs
    _tab(page, "Channels", "Paint its ideal image")
    button = page.get_by_role("button", name="Paint its ideal image")
    button.scroll_into_view_if_needed()
    button.click()
    page.get_by_text("Painting: step").first.wait_for(timeout=120_000)
    assert _in_view(button.bounding_box()), button.bounding_box()
    assert _in_view(page.get_by_text("Painting: step").first.bounding_box())
    _view(page, "feature_maps_painting")
    _settle(page, "Its mean activation went from")
    assert errors_on(page) == []
    assert _in_view(page.get_by_text("Its mean activation went from").first.bounding_box())
    _view(page, "feature_maps_painted")

    # presentation mode: bigger channel tiles, same page
    page.goto(f"{server}/feature_maps?present=1")
    wait_for_charts(page)
    assert errors_on(page) == [] and _warnings(page) == []
    _view(page, "feature_maps_present")
    screenshot(page, "feature_maps_present_full")
    _tab(page, "Where does it look?", "Ran Grad-CAM")
    _view(page, "feature_maps_present_gradcam")
    _tab(page, "Convolution by hand", "The network computed")
    _view(page, "feature_maps_present_conv_by_hand")
    assert errors_on(page) == [] and _warnings(page) == []
    context.close()


@pytest.mark.slow
def test_a_lesson_link_opens_the_receptive_field_and_a_click_moves_it(server, browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.goto(server)
    wait_for_app(page)
    page.goto(f"{server}/feature_maps?layer=block_1_depthwise_relu&section=What+one+position+sees&row=5&col=9")
    wait_for_charts(page)
    assert errors_on(page) == []
    page.get_by_text("Position (row 5, column 9) of the 56x56 map").wait_for(timeout=60_000)
    assert page.get_by_text("11x11-pixel").first.is_visible()
    assert "layer=block_1_depthwise_relu" in page.url and "row=5" in page.url
    _view(page, "feature_maps_receptive_field")

    # click the bottom-right part of the map: the position (and the link) follow the click
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    drag = chart.locator(".nsewdrag").first
    box = drag.bounding_box()
    drag.click(position={"x": box["width"] * 0.8, "y": box["height"] * 0.8})
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stMain\"]').innerText"
                           ".includes('Position (row 5, column 9)')", timeout=120_000)
    _settle(page, "of the 56x56 map")
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "Position (row 5, column 9)" not in text
    query = parse_qs(urlparse(page.url).query)
    row, col = int(query["row"][0]), int(query["col"][0])
    assert 40 <= row <= 50 and 40 <= col <= 50, page.url  # 80% of the way across a 56x56 map
    assert f"Position (row {row}, column {col}) of the 56x56 map" in text
    _view(page, "feature_maps_receptive_field_clicked")
    context.close()


@pytest.mark.slow
def test_upload_click_and_corrupt_file(server, page, fixture_images):
    page.goto(server)
    wait_for_app(page)
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.goto(f"{server}/feature_maps")
    wait_for_app(page)
    assert errors_on(page) == []
    assert "Conv1_relu: 112x112 pixels x 32 channels" in _caption_texts(page)

    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Upload", exact=True).click()
    _settle(page, "Upload a photo")
    sidebar.locator('input[type="file"]').set_input_files(str(fixture_images / "dog.jpg"))
    _settle(page, "upload: dog.jpg")
    assert errors_on(page) == []
    assert "upload: dog.jpg" in _caption_texts(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 2  # channel grid, enlarged channel
    screenshot(page, "feature_maps_upload")

    # click the second tile of the channel grid: the enlarged channel becomes the rank-2 channel
    grid = page.locator('[data-testid="stPlotlyChart"]').nth(0)
    box = grid.locator(".nsewdrag").first.bounding_box()
    cols = 8  # 32 channels of 112x112: 4 rows of 8
    grid.locator(".nsewdrag").first.click(position={"x": box["width"] * 1.5 / cols, "y": box["height"] * 0.5 / cols})
    _settle(page, "rank 2 of 32")
    assert "rank 2 of 32" in _caption_texts(page), _caption_texts(page)
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
