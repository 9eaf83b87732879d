"""Hostile zips on the Transfer learning page, through the running app: a clear message, nothing lost."""

import io
import zipfile

import pytest

from explorer.data.samples import SAMPLES, sample_path
from tests.browser.conftest import errors_on, screenshot, wait_for_app

pytestmark = pytest.mark.browser
ALERT_ERROR = '[data-testid="stAlertContentError"]'


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _upload(page, name: str, data: bytes) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        {"name": name, "mimeType": "application/zip", "buffer": data})
    page.locator('[data-testid="stFileUploader"]', has_text=name).first.wait_for(timeout=60_000)  # its name shown
    wait_for_app(page)


def test_hostile_zips_are_refused_and_the_good_data_stays(server, page):
    cat = sample_path("Cat (Chelsea)").read_bytes()
    cup = sample_path("Coffee cup").read_bytes()
    good = _zip({f"cats/c{i}.jpg": cat for i in range(3)} | {f"cups/k{i}.jpg": cup for i in range(3)})
    traversal = _zip({"cats/c.jpg": cat, "../../evil/owned.jpg": cup, "cups/k.jpg": cup})
    bomb = _zip({"cats/c.jpg": cat, "cups/big.jpg": b"\0" * 200_000_000})
    assert len(SAMPLES) >= 2

    page.goto(f"{server}/transfer_learning")
    wait_for_app(page)
    page.get_by_role("radio", name="Zip file").click()
    wait_for_app(page)

    _upload(page, "evil.zip", traversal)
    page.locator(ALERT_ERROR, has_text="evil.zip").first.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0

    _upload(page, "pets.zip", good)
    page.get_by_text("Images per class").first.wait_for(timeout=60_000)
    assert errors_on(page) == []

    _upload(page, "bomb.zip", bomb)
    message = page.locator(ALERT_ERROR, has_text="bomb.zip").first
    message.wait_for(timeout=60_000)
    assert page.get_by_text("Still using the images of the previous zip").count() == 1
    assert page.get_by_text("Images per class").count() >= 1  # the good data is still there
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "transfer_hostile_zip")
