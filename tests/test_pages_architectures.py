"""AppTest for the Architectures, Inception block and Residual block pages, inside the navigation."""

import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, needs_fixtures

APP = str(ROOT / "streamlit_app.py")


def _open(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _caption(at, text: str) -> str:
    """The first caption containing ``text``."""
    return next(c.value for c in at.caption if text in c.value)


@needs_fixtures
def test_architectures_card_graph_blocks_and_search():
    at = _open("pages/architectures.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Keras layers"] == "157" and metrics["Parameters"] == "3.5 million"
    assert metrics["ImageNet top-1"] == "71.3%" and metrics["Input"] == "224x224"
    assert "no trained weights are needed" in _caption(at, "Structure only")
    assert not at.warning and not at.error
    assert len(at.get("plotly_chart")) == 1
    assert _caption(at, "Showing").startswith("Showing 22 nodes for 157 layers")  # runs of identical blocks: ×N
    at.selectbox(key="arch_expand_mobilenet_v2").set_value("block_2").run()
    assert _caption(at, "Showing").startswith("Showing 30 nodes for 157 layers; the model has 10 skip connection(s), "
                                              "9 of them inside folded blocks")
    at.text_input(key="arch_search_mobilenet_v2").input("_add").run()
    assert _caption(at, "of 157 layers") == "10 of 157 layers"  # MobileNetV2's ten residual additions
    at.text_input(key="arch_search_mobilenet_v2").input("no such layer").run()
    assert _caption(at, "of 157 layers") == "0 of 157 layers" and not at.exception


@needs_fixtures
def test_architectures_never_nags_about_weights(monkeypatch):
    """Structure needs no weights: models whose weights are missing open without a warning or toggle."""
    from explorer import weights

    monkeypatch.setattr(weights, "online", lambda timeout=2.0: False)
    at = _open("pages/architectures.py")
    at.selectbox(key="arch_model").set_value("resnet50").run()
    assert not at.exception and not at.warning and not at.error
    assert [t.label for t in at.toggle] == ["Fold blocks"]  # no "random weights" toggle
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters"] == "26 million" and metrics["Keras layers"] == "178"
    assert _caption(at, "Showing").startswith("Showing 14 nodes")  # 178 layers, 16 blocks, 4 runs of ×N
    assert "Structure only" in _caption(at, "Structure only")
    at.selectbox(key="arch_model").set_value("googlenet").run()
    assert not at.warning and {m.label: m.value for m in at.metric}["ImageNet top-1"] == "n/a"
    layers = at.dataframe[-1].value
    assert "conv 7x7, 64 /2, ReLU" in set(layers["what it is"]) and "inception (4a)" in set(layers["block"])


@needs_fixtures
def test_inception_block_page_counts_and_losses():
    at = _open("pages/inception_block.py")
    assert "163,696" in _caption(at, "Counted by hand") and "Keras counts **163,696**" in _caption(at, "Counted")
    metrics = {m.label: float(m.value) for m in at.metric}
    expected = metrics["main loss"] + 0.3 * (metrics["aux1 loss"] + metrics["aux2 loss"])
    assert metrics["total loss"] == pytest.approx(expected, abs=2e-3)
    assert 6.0 < metrics["main loss"] < 8.0  # random weights: about ln(1000)
    for key in ("incep_filters_1x1", "incep_filters_3x3", "incep_filters_5x5", "incep_filters_pool_proj"):
        at.slider(key=key).set_value(1).run()
    assert not at.exception
    concat = next(m.value for m in at.markdown if m.value.startswith("**Concatenated"))
    assert not any("e-0" in c.value for c in at.caption)
    assert "4 = 1 + 1 + 1 + 1 channels" in concat
    at.selectbox(key="incep_label").set_value(340).run()  # zebra
    assert not at.exception and at.metric[0].label == "main loss"


@needs_fixtures
@pytest.mark.slow
def test_residual_block_page_block_gradients_and_sizes():
    at = _open("pages/residual_block.py")
    assert any("Keras counts **74,368**" in m.value for m in at.markdown)  # basic, identity, 64 channels
    at.slider(key="res_depth").set_value(8).run()
    ratio = _caption(at, "Gradient at the first layer")
    assert re.search(r"plain \*\*[0-9,.]+ (thousand |million )?times smaller\*\*", ratio), ratio
    assert "residual **the same size**" in ratio and "e-0" not in ratio
    at.segmented_control(key="res_act").set_value("relu").run()
    assert "plain + batch norm **" in _caption(at, "Gradient at the first layer") and not at.exception
    gap = at.dataframe[0].value
    assert list(gap["after GlobalAveragePooling"]) == ["(2048,)", "(2048,)"]
    assert list(gap["last feature maps"]) == ["(7, 7, 2048)", "(10, 15, 2048)"]
    at.segmented_control(key="res_stride").set_value(2).run()
    assert "identity shortcut cannot halve" in at.warning[0].value
    at.segmented_control(key="res_kind").set_value("bottleneck").run()
    assert not at.exception
    assert any("Keras counts **76,928**" in m.value for m in at.markdown)  # ResNet-50's conv2_block1
    at.slider(key="res_ir_scale").set_value(0.0).run()
    assert not at.exception and _caption(at, "Keras counts") == "Keras counts 122,928."


@needs_fixtures
def test_inception_block_lesson_link_round_trip():
    """A prepared link opens the block with its widths and label; a moved slider goes back into the URL."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"1x1": "10", "label": "340", "pool_proj": "999"})
    at.run()
    at.switch_page("pages/inception_block.py").run()
    assert not at.exception
    assert at.slider(key="incep_filters_1x1").value == 10 and at.selectbox(key="incep_label").value == 340
    assert at.slider(key="incep_filters_pool_proj").value == 32  # 999 is out of range: default, with a notice
    assert "pool_proj=999" in at.info[0].value
    at.slider(key="incep_filters_3x3").set_value(100).run()
    assert at.query_params["3x3"] == "100" and at.query_params["1x1"] == "10"
    assert not at.warning  # no "default value but also set via Session State" box
