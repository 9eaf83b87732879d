"""The Transfer learning page in a real browser at 1440x900: a lesson link sets the controls, the Train button
and the live curves are on screen together while it trains, then curves and confusion matrix render."""

import time
import zipfile

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, errors_on, screenshot, wait_for_app, wait_until_quiet

pytestmark = [pytest.mark.browser, pytest.mark.slow]
HEIGHT = 900
LINK = "/transfer_learning?data=Demo+set&backbone=mobilenet_0.25&epochs=30&fine_tune=1&ft_layers=5&ft_epochs=2"


# Once the fine-tuning progress bar is up: whether it, the live curves and the Train button are each
# wholly inside the window (null until all three exist).
MID_RUN_IN_VIEW_JS = """(height) => {
    const find = (selector, text) => [...document.querySelectorAll(selector)]
        .find(e => text === null || e.textContent.includes(text));
    const progress = find('[data-testid="stProgress"]', 'Fine-tuning: epoch');
    const curves = find('[data-testid="stPlotlyChart"]', 'Accuracy');
    // The button's text is its icon's name, then "Train".
    const train = [...document.querySelectorAll('[data-testid="stMain"] button')]
        .find(b => b.textContent.trim().endsWith('Train'));
    if (!progress || !curves || !train) return null;
    const inView = e => { const r = e.getBoundingClientRect(); return r.height > 0 && r.top >= 0 && r.bottom <= height; };
    return {train: inView(train), curves: inView(curves), progress: inView(progress)};
}"""


def test_a_lesson_link_then_training_on_the_demo_set_with_the_curves_beside_the_button(server, page):
    page.set_viewport_size({"width": 1440, "height": HEIGHT})
    page.goto(server + LINK)
    wait_for_app(page)
    page.get_by_text("Images per class").first.wait_for(timeout=60_000)
    backbone = page.get_by_role("combobox", name="Backbone (pretrained, frozen)")
    assert backbone.input_value() == "MobileNet 0.25 (128 px)"  # restored from the link (its short label)
    assert page.locator(".st-key-tl_epochs input[type=range]").input_value() == "30"
    assert page.get_by_role("radio", name="Demo set").get_attribute("aria-checked") == "true"
    assert errors_on(page) == [] and page.locator('[data-testid="stAlertContentWarning"]').count() == 0

    train = page.get_by_role("button", name="Train", exact=True)
    train.scroll_into_view_if_needed()
    train.click()
    # Mid-run (the fine-tuning stage), checked inside the page in one go: two fine-tuning epochs can end
    # between one Playwright call and the next, taking the progress bar with them.
    seen = page.wait_for_function(MID_RUN_IN_VIEW_JS, arg=HEIGHT, timeout=480_000).json_value()
    assert seen == {"train": True, "curves": True, "progress": True}, seen
    screenshot_view(page, "transfer_learning_training")

    page.get_by_text("Validation accuracy").wait_for(timeout=480_000)
    wait_for_app(page)
    assert errors_on(page) == []
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 4
    assert page.get_by_text("Confusion matrix").count() >= 1
    assert page.get_by_text("never trained on").count() >= 1  # the default new photo is a held-out one
    assert "epochs=30" in page.url and "backbone=mobilenet_0.25" in page.url
    page.get_by_role("radio", name="Sample, upload or camera").click()
    wait_for_app(page)
    camera = page.get_by_role("radio", name="Camera", exact=True)  # the photo input's last source, not cut off
    assert camera.evaluate("b => b.getBoundingClientRect().right "
                           "<= b.closest('[role=radiogroup]').getBoundingClientRect().right + 1")
    _phone_download_beside_keras(page)
    train.scroll_into_view_if_needed()
    screenshot_view(page, "transfer_learning_trained_1440x900")
    page.set_viewport_size({"width": 1400, "height": 4600})  # Streamlit scrolls inside the page: show it all
    wait_until_quiet(page)
    screenshot(page, "transfer_learning_trained")


def _phone_download_beside_keras(page) -> None:
    """Issue 24: "Download for phones (.tflite)" sits beside "Download as .keras" and gives the zip a phone
    app takes: model.tflite, labels.txt (the demo set's classes, in order) and a README."""
    phone = page.get_by_role("button", name="Download for phones (.tflite)")
    keras_button = page.get_by_role("button", name="Download as .keras")
    phone.scroll_into_view_if_needed()
    wait_until_quiet(page)
    beside_keras, beside_phone = keras_button.bounding_box(), phone.bounding_box()
    assert abs(beside_keras["y"] - beside_phone["y"]) < 2 and beside_phone["x"] > beside_keras["x"]
    screenshot_view(page, "transfer_learning_downloads_1440x900")
    with page.expect_download(timeout=300_000) as download:
        phone.click()
    assert download.value.suggested_filename.endswith("_tflite.zip")
    with zipfile.ZipFile(download.value.path()) as zf:
        assert sorted(zf.namelist()) == ["README.txt", "labels.txt", "model.tflite"]
        assert zf.read("labels.txt").decode().splitlines() == ["Astronaut", "Cat (Chelsea)", "Coffee cup",
                                                               "Rocket launch"]
        assert zf.getinfo("model.tflite").file_size > 100_000
        assert "[1, 128, 128, 3]" in zf.read("README.txt").decode()
    assert errors_on(page) == []


def test_presentation_mode_keeps_every_source_label_whole(server, page):
    page.set_viewport_size({"width": 1440, "height": HEIGHT})
    page.goto(f"{server}/transfer_learning?present=1&data=Webcam%2C+class+by+class")
    wait_for_app(page)
    assert errors_on(page) == []
    for label in ("Upload per class", "Webcam, class by class", "Zip file", "Local folder", "Demo set"):
        button = page.get_by_role("radio", name=label)
        assert button.evaluate("b => b.scrollWidth <= b.clientWidth + 1 && b.getBoundingClientRect().right "
                               "<= b.closest('[role=radiogroup]').getBoundingClientRect().right + 1"), label
    assert page.get_by_text("Shots go to").count() == 1
    screenshot_view(page, "transfer_learning_present_webcam")


def _until_camera_plays(page, timeout: float = 60.0) -> None:
    """Poll until a <video> element has played 1.5 s of the (fake) camera's stream (a shot taken sooner left
    the restarted camera without a picture)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate("() => Array.from(document.querySelectorAll('video'))"
                            ".some(v => v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 1.5)"):
        assert time.monotonic() < deadline, "the camera shows no picture"
        time.sleep(0.1)


def test_webcam_shots_one_click_each_in_a_real_browser(server, browser):
    """Chromium's fake camera: each Take Photo adds a shot to the chosen class and the camera is ready again."""
    cam_browser = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + [
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        context = cam_browser.new_context(viewport={"width": 1440, "height": HEIGHT}, permissions=["camera"])
        page = context.new_page()
        page.goto(f"{server}/transfer_learning?data=Webcam%2C+class+by+class")
        wait_for_app(page)
        for shots in (1, 2, 3):
            take = page.get_by_role("button", name="Take Photo")
            take.wait_for(timeout=60_000)
            _until_camera_plays(page)  # the fake stream has frames again after the camera (re)starts
            take.click()
            page.get_by_text(f"{shots} shot(s)").first.wait_for(timeout=60_000)
            wait_for_app(page)
        assert errors_on(page) == []
        assert page.get_by_text("No shots yet.").count() == 1  # the second class got none of them
        screenshot_view(page, "transfer_learning_webcam_shots")
    finally:
        cam_browser.close()


def screenshot_view(page, name: str):
    """What a 1440x900 screen shows right now (not the whole page)."""
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
