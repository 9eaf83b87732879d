"""Hostile uploads through the running app: clear messages, no tracebacks, the session keeps working.

The home page's "Your own classifier" upload goes through explorer.user_models (safe_mode, archive and
architecture checks). Photo and dataset uploads are checked on their own pages' tests.
"""

import io
import zipfile

import pytest

from tests.browser.conftest import errors_on, screenshot, wait_for_app

pytestmark = pytest.mark.browser

ALERT_ERROR = '[data-testid="stAlertContentError"]'
ALERT_SUCCESS = '[data-testid="stAlertContentSuccess"]'


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """Bytes of a valid tiny classifier, one with a Lambda layer, and a zip with a path-traversal member."""
    import keras

    folder = tmp_path_factory.mktemp("uploads")

    def saved(with_lambda: bool) -> bytes:
        pixels = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(4, 3, activation="relu")(pixels)
        if with_lambda:
            x = keras.layers.Lambda(lambda t: t * 2.0)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        path = folder / f"m{int(with_lambda)}.keras"
        keras.Model(pixels, keras.layers.Dense(3, activation="softmax")(x)).save(path)
        return path.read_bytes()

    good = saved(False)
    traversal = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(traversal, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("../../../tmp/owned.txt", b"escaped")
    return {"good": good, "lambda": saved(True), "traversal": traversal.getvalue()}


def upload(page, name: str, data: bytes) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        {"name": name, "mimeType": "application/octet-stream", "buffer": data})


def expect_alert(page, selector: str, text: str) -> str:
    alert = page.locator(selector, has_text=text)
    alert.first.wait_for(timeout=120_000)
    wait_for_app(page)
    alert.first.scroll_into_view_if_needed()
    return alert.first.inner_text()


def test_bad_model_files_are_refused_and_the_session_keeps_working(server, page, model_files):
    page.goto(server)
    wait_for_app(page)
    page.get_by_text("Upload a .keras model").click()

    upload(page, "homework.keras", b"PK\x03\x04 this zip was cut short" + bytes(200))
    message = expect_alert(page, ALERT_ERROR, "not a Keras model file")
    assert "model.save" in message
    assert page.locator('[data-testid="stException"]').count() == 0

    upload(page, "clever.keras", model_files["lambda"])
    expect_alert(page, ALERT_ERROR, "Lambda layer")

    upload(page, "escape.keras", model_files["traversal"])
    expect_alert(page, ALERT_ERROR, "unsafe path")
    screenshot(page, "hostile_upload_refused")

    upload(page, "pets.keras", model_files["good"])
    message = expect_alert(page, ALERT_SUCCESS, "Added")
    assert "pets (uploaded)" in message and "32x32" in message
    assert errors_on(page) == []
    screenshot(page, "hostile_upload_then_good_model")
    # the rest of the page still works: the weights table is there and the app reruns cleanly
    assert page.locator('[data-testid="stTable"]').count() == 1
    page.reload()
    wait_for_app(page)
    assert errors_on(page) == []
