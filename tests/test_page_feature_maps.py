"""The Feature maps page inside the app's navigation (AppTest): a sample photo through real and random models."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, needs_fixtures

APP = str(ROOT / "streamlit_app.py")
PAGE = "pages/feature_maps.py"


def _open(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def _layers(at) -> list[str]:
    """The layer slider's options without their "3. " depth prefix."""
    return [o.split(". ", 1)[1] for o in at.select_slider[0].options]


def _segmented(at, key):
    return next(b for b in at.get("button_group") if b.key == key)


def _ok(at):
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


@needs_fixtures
def test_mobilenet_v2_sample_photo_end_to_end():
    at = _open()
    # VGG16 is the default; its weights are not in the fixture cache: a notice and a way out, no crash
    assert at.selectbox(key="fm_model").value == "vgg16"
    assert any("vgg16" in w.value for w in at.warning)
    at.button[0].click().run()  # "Use MobileNetV2 instead (its ImageNet weights are here)"
    _ok(at)
    assert at.selectbox(key="fm_model").value == "mobilenet_v2"
    top = at.dataframe[0].value
    assert list(top.columns) == ["class", "probability"] and len(top) == 5
    assert top["class"].iloc[0] in {"tiger cat", "Egyptian cat", "tabby"}  # the sample is a cat
    assert "Conv1_relu**: 112x112 pixels x 32 channels" in _captions(at)
    assert len(at.get("plotly_chart")) == 3  # shape chart, channel grid, enlarged channel
    assert len(at.get("download_button")) == 1

    assert _layers(at)[0] == "Conv1_relu" and _layers(at)[-1] == "out_relu"
    at.select_slider[0].set_value("out_relu").run()
    _ok(at)
    assert "out_relu**: 7x7 pixels x 1280 channels, showing the 64 strongest" in _captions(at)

    # extreme settings: one channel, per-channel scale, opacity 0, the last channel
    at.slider(key="fm_mobilenet_v2_out_relu_count").set_value(1)
    _segmented(at, "fm_mobilenet_v2_out_relu_scale").set_value("Per channel")
    at.slider(key="fm_mobilenet_v2_out_relu_opacity").set_value(0.0)
    at.number_input(key="fm_mobilenet_v2_out_relu_channel").set_value(1279).run()
    _ok(at)
    assert "showing the 1 strongest" in _captions(at) and "each channel on its own scale" in _captions(at)
    assert "of 1280" in _captions(at)

    # raw convolution outputs instead of activations: same pass, other layer names
    _segmented(at, "fm_mode").set_value("Convolution output").run()
    _ok(at)
    assert _layers(at)[0] == "Conv1" and len(_layers(at)) == 52


def test_a_model_the_user_trained_is_offered_with_its_class_names(tiny_classifier):
    mine = tiny_classifier(["mug", "rocket"])
    at = _open(user_models={"mugs vs rockets": mine})
    at.selectbox(key="fm_model").set_value("Yours: mugs vs rockets").run()
    _ok(at)
    assert _layers(at) == ["edges", "parts"]
    assert sorted(at.dataframe[0].value["class"]) == ["mug", "rocket"]
    assert "edges**: 15x15 pixels x 8 channels" in _captions(at)
    assert "Your classifier: mug, rocket" in _captions(at)


@pytest.mark.slow
def test_vgg16_with_random_weights_still_shows_every_layer():
    at = _open()
    at.toggle[0].set_value(True).run()  # "Use random (untrained) weights instead"
    _ok(at)
    assert len(_layers(at)) == 13
    assert "block1_conv1**: 224x224 pixels x 64 channels" in _captions(at)
    assert "predictions are noise" in _captions(at)
    at.select_slider[0].set_value("block5_conv3").run()
    _ok(at)
    assert "block5_conv3**: 14x14 pixels x 512 channels" in _captions(at)
