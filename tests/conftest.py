"""Shared test setup: offline ImageNet weights from ../shared/fixtures, photos, small models.

KERAS_HOME is pointed at a temporary copy of the fixture cache before Keras is imported, so tests
never touch ~/.keras or the network.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
IMAGES = FIXTURES / "images"
_KERAS_HOME = Path(tempfile.mkdtemp(prefix="cnn_explorer_keras_home_"))
if (FIXTURES / "keras_home").is_dir():
    shutil.copytree(FIXTURES / "keras_home", _KERAS_HOME, dirs_exist_ok=True)
    for p in _KERAS_HOME.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
os.environ["KERAS_HOME"] = str(_KERAS_HOME)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HAVE_FIXTURES = (FIXTURES / "keras_home" / "models").is_dir()
needs_fixtures = pytest.mark.skipif(not HAVE_FIXTURES, reason="needs ../shared/fixtures (offline ImageNet weights)")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_KERAS_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def keras_home() -> Path:
    return _KERAS_HOME


@pytest.fixture(scope="session")
def fixture_images() -> Path:
    if not IMAGES.is_dir():
        pytest.skip("needs ../shared/fixtures/images")
    return IMAGES


@pytest.fixture(scope="session")
def cat_photo(fixture_images):
    import explorer

    return explorer.load_image(fixture_images / "cat.jpg")


@pytest.fixture(scope="session")
def dog_photo(fixture_images):
    import explorer

    return explorer.load_image(fixture_images / "dog.jpg")


@pytest.fixture(scope="session")
def mobilenet_v2():
    """The real MobileNetV2 ImageNet classifier from the fixture cache (shared, never mutated)."""
    if not HAVE_FIXTURES:
        pytest.skip("needs ../shared/fixtures")
    import explorer

    return explorer.load_model("mobilenet_v2")


@pytest.fixture(scope="session")
def mobilenet_small():
    """MobileNet alpha 0.25 at 128x128: a real but tiny ImageNet classifier for fast tests."""
    if not HAVE_FIXTURES:
        pytest.skip("needs ../shared/fixtures")
    import explorer

    return explorer.load_model("mobilenet", alpha=0.25, input_shape=(128, 128, 3))
