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
# No background compilation when a page opens a model (explorer.warm.compile_in_background): tests count
# compiled-step calls, and a stray background step would be counted. tests/test_warm.py tests it directly.
os.environ["CNN_EXPLORER_PRECOMPILE"] = "0"

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


def make_tiny_classifier(class_names=3, size: int = 32, seed: int = 0, activation: str | None = "softmax",
                         with_lambda: bool = False):
    """The one hand-built model of the test suite: a random conv classifier taking 0..255 pixels.

    ``class_names``: a list (recorded in the model's metadata, like a user-trained model) or a count
    (classes named by count). Layers ``edges`` (8 channels) and ``parts`` (16), both stride 2, then a
    dense ``predictions`` layer with ``activation`` (None: logits). ``with_lambda`` adds a Lambda layer
    (for the refusal tests of user uploads).
    """
    import keras

    from explorer.models.classifier import describe

    names = None if isinstance(class_names, int) else list(class_names)
    keras.utils.set_random_seed(seed)
    pixels = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(pixels)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="edges")(x)
    if with_lambda:
        x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="parts")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(len(names) if names else class_names, activation=activation, name="predictions",
                             kernel_initializer=keras.initializers.RandomNormal(stddev=0.3))(x)
    model = keras.Model(pixels, out, name="tiny")
    return describe(model, name="tiny", weights="random (untrained)", class_names=names)


@pytest.fixture(scope="session")
def tiny_classifier():
    """Factory for :func:`make_tiny_classifier`: ``tiny_classifier(["cat", "dog"], size=16)``."""
    return make_tiny_classifier


def page_styles(at) -> str:
    """The CSS an AppTest run added to the page (``ui.present.style``: a markdown element holding a <style>)."""
    return " ".join(m.value for m in at.markdown if m.value.startswith("<style"))
