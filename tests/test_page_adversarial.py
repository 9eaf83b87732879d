"""The adversarial page inside the app's navigation: the default payoff (MobileNetV2 sure, within 2 levels),
Grad-CAM before and after, every network's verdict, the epsilon sweep, lesson links, extreme settings."""

import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import explorer
from explorer.attacks import single as attacks
from tests.conftest import ROOT, needs_fixtures
from ui import attack_sections

APP = str(ROOT / "streamlit_app.py")
SMALL = "mobilenet_0.25"


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(query or {})
    at.run()
    at.switch_page("pages/adversarial.py").run()
    assert not at.exception, at.exception
    return at


def texts(at) -> str:
    return " ".join(el.value for kind in ("markdown", "caption", "success", "warning", "info", "error")
                    for el in at.get(kind))


def image_captions(at) -> list[str]:
    return [img.proto.imgs[0].caption for img in at.get("image")]


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


@needs_fixtures
@pytest.mark.slow
def test_the_default_attack_makes_mobilenet_v2_sure_and_the_heat_map_moves():
    at = open_page()
    assert at.title[0].value == "Adversarial example"
    assert not at.warning and not at.error  # first view: MobileNetV2, whose weights are here
    assert at.select_slider(key="adv_epsilon").value == attacks.DEFAULTS["epsilon"] == 2
    assert at.select_slider(key="adv_confidence").value == attacks.DEFAULTS["confidence"] == 0.9
    assert at.slider(key="adv_steps").value == attacks.DEFAULTS["steps"]
    assert at.segmented_control(key="adv_method").value == attacks.DEFAULTS["method"]
    assert "MobileNetV2 sees" in texts(at)
    at.button(key="adv_go").click().run()
    assert not at.exception and not at.error
    headline = at.success[0].value
    match = re.search(r"MobileNetV2 is now (\d+)% sure it sees \*\*tabby\*\*", headline)
    assert match and int(match.group(1)) >= 90, headline  # the payoff, in words
    assert "more than 2 level(s) of 255" in headline
    result = at.session_state["adv_result"]["result"]
    assert result.success and result.linf <= 2 and result.probs_after[explorer.TABBY] >= 0.9
    assert {m.label: m.value for m in at.metric}["p('tabby')"] == f"{match.group(1)}%"  # one format
    # the curve's log axis speaks plain words: no 1e-05, no 100µ
    ticks = charts(at)[0]["layout"]["yaxis"]["ticktext"]
    assert "100%" in ticks and any(t.startswith("1 in ") for t in ticks)
    assert not any(re.search(r"e-|µ", t) for t in ticks), ticks
    # Grad-CAM: the photo did not change, the heat map did (top class before, tabby after)
    captions = image_captions(at)
    before = [c for c in captions if c.startswith("Before: where MobileNetV2 finds")]
    after = [c for c in captions if c.startswith("After: where MobileNetV2 finds 'tabby'")]
    assert len(before) == 1 and len(after) == 1 and "'tabby'" not in before[0], captions
    assert "The photo did not change" in texts(at)
    cams = at.session_state["adv_result"]["cams"]
    assert cams[0][0].shape == cams[1][0].shape == result.image.shape[:2]
    assert np.abs(cams[0][0] - cams[1][0]).mean() > 0.05  # the heat map really moved


@needs_fixtures
@pytest.mark.slow
def test_an_ensemble_attack_every_networks_verdict_and_the_epsilon_sweep():
    at = open_page({"model": SMALL, "eps": "4", "sure": "0"})
    at.multiselect(key="adv_also").set_value(["mobilenet_0.75"]).run()
    at.button(key="adv_go").click().run()
    assert not at.exception and not at.error
    assert "(so are the other 1 attacked network(s))" in at.success[0].value
    # issue 23: the headline's number is the first network's own, the metric the ensemble's average
    assert "(its own probability; the first of the 2 attacked)" in at.success[0].value
    assert at.metric[0].label == "p('tabby'), average of the 2 attacked"
    result = at.session_state["adv_result"]["result"]
    assert len(result.per_model_after) == 2 and result.success
    # every zoo network whose weights are here judges the photo: a table of fooled / not fooled
    at.button(key="adv_judge").click().run()
    assert not at.exception
    table = next(t.value for t in at.table if "verdict" in t.value.columns)  # (the others: top-5 tables)
    assert list(table.index) == [explorer.VARIANTS[k].title + (" (attacked)" if k in (SMALL, "mobilenet_0.75")
                                                                   else "") for k in attack_sections.judges()]
    assert len(table) == 3  # MobileNetV2 and the two small MobileNets in the fixtures
    attacked = table[table.index.str.endswith("(attacked)")]
    assert set(attacked["verdict"]) == {"fooled"} and set(table["verdict"]) <= {"fooled", "not fooled"}
    words = list(table["p('tabby') after"]) + list(table["p('tabby') before"])
    assert all(w.endswith("%") or w.startswith("1 in ") or w.startswith("practically") for w in words), words
    assert "the attack never saw" in texts(at)
    # the epsilon sweep: one attack per budget, a small chart, progress shown while it runs
    at.button(key="adv_sweep_go").click().run()
    assert not at.exception and not at.error
    points = at.session_state["adv_sweep"]["points"]
    assert [p.epsilon for p in points] == list(attack_sections.SWEEP_EPSILONS)
    assert not points[0].success and points[-1].success
    sweep = [c for c in charts(at) if "per budget" in c["layout"]["title"]["text"]]
    assert len(sweep) == 1 and sweep[0]["data"][0]["x"] == list(attack_sections.SWEEP_EPSILONS)
    assert "Fooled from ε =" in texts(at)


@needs_fixtures
@pytest.mark.slow
def test_make_it_transfer_says_what_ran_and_asks_the_networks_it_never_saw():
    """Issue 24: the ensemble section's "Make it transfer" switch (from a lesson link here)."""
    at = open_page({"model": SMALL, "eps": "8", "transfer": "1"})
    assert at.toggle(key="adv_transfer").value
    assert "keeps pushing past 90% sure" in texts(at) and "made to transfer" in texts(at)
    assert at.select_slider(key="adv_confidence").disabled  # it runs to its own 99.99%, not this slider's
    at.multiselect(key="adv_also").set_value(["mobilenet_0.75"]).run()
    at.button(key="adv_go").click().run()
    assert not at.exception and not at.error
    result = at.session_state["adv_result"]["result"]
    assert result.transfer and result.linf <= 8 and len(result.per_model_after) == 2
    assert f"made to transfer (momentum + input diversity, {result.steps} steps, ε 8;" in at.success[0].value
    # its goal line is where it stops (99.99%), not the plain attack's 90%
    [curve] = [c for c in charts(at) if "after each step" in c["layout"]["title"]["text"]]
    assert "the goal, 99.99%" in curve["layout"]["title"]["text"]
    assert [shape["y0"] for shape in curve["layout"]["shapes"]] == [attack_sections.TRANSFER_SURE]
    # the networks it never saw judge at once (no button to press): here MobileNetV2
    table = next(t.value for t in at.table if "verdict" in t.value.columns)
    assert list(table.index).count(explorer.VARIANTS["mobilenet_v2"].title) == 1
    assert "of the 1 network(s) the attack never saw" in texts(at)
    assert "plain, not made to transfer" in texts(at)  # the sweep says it is not this attack
    at.toggle(key="adv_transfer").set_value(False).run()
    assert "Settings changed since this run" in texts(at)
    assert not at.select_slider(key="adv_confidence").disabled


@needs_fixtures
def test_a_lesson_link_restores_the_settings_and_a_moved_slider_goes_back_into_it():
    query = {"photo": "Astronaut", "model": SMALL, "target": "282", "eps": "4", "sure": "0.75",
             "method": "fgsm", "steps": "12"}
    at = open_page(query)
    assert not at.info[0].value.startswith("This link")
    assert at.selectbox(key="adv_photo_sample").value == "Astronaut"
    assert at.selectbox(key="adv_model").value == SMALL and at.selectbox(key="adv_target_1000").value == 282
    assert at.select_slider(key="adv_epsilon").value == 4 and at.select_slider(key="adv_confidence").value == 0.75
    assert at.segmented_control(key="adv_method").value == "fgsm" and at.slider(key="adv_steps").value == 12
    assert "at most 4 level(s) of 255 until it is 75% sure it sees 'tiger cat'" in texts(at)
    at.select_slider(key="adv_epsilon").set_value(8).run()
    assert at.select_slider(key="adv_epsilon").value == 8 and at.query_params["eps"] == "8"
    assert at.query_params["target"] == "282" and at.query_params["sure"] == "0.75"
    assert "eps=8" in at.get("code")[0].value  # the share box holds the link to this view


@needs_fixtures
def test_bad_link_values_fall_back_to_the_defaults_with_one_notice():
    at = open_page({"eps": "5", "target": "cat", "sure": "2", "model": "vgg99", "steps": "nan"})
    assert not at.exception and not at.error
    notice = at.info[0].value
    assert "could not be used" in notice and "eps=5" in notice and "target=cat" in notice
    assert at.select_slider(key="adv_epsilon").value == 2 and at.selectbox(key="adv_target_1000").value == 281
    assert at.select_slider(key="adv_confidence").value == 0.9 and at.selectbox(key="adv_model").value == "mobilenet_v2"
    assert at.slider(key="adv_steps").value == attacks.DEFAULTS["steps"]


@needs_fixtures
@pytest.mark.slow
def test_attack_fools_the_network_and_offers_a_png_that_still_fools_it():
    at = open_page({"model": SMALL, "target": "282", "sure": "0"})  # tiger cat, at the first flip
    at.button(key="adv_go").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value.startswith("Fooled.") and "now sees **tiger cat** first" in at.success[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Largest change (levels)"] == "2" and int(metrics["Steps"]) <= 40
    # the download is the exact uint8 photo, and it still fools the model when decoded again
    saved = at.session_state["adv_result"]["result"]
    again = np.asarray(Image.open(io.BytesIO(attacks.png_bytes(saved.image))))
    assert again.dtype == np.uint8 and np.array_equal(again, saved.image)
    photo = attacks.shrink(explorer.data.samples.sample_image("Coffee cup"), 768)
    assert np.abs(again.astype(int) - photo.astype(int)).max() <= 2
    model = explorer.load_model("mobilenet", alpha=0.25, input_shape=(128, 128, 3))
    assert int(np.argmax(attacks.predict(model, again))) == 282


@needs_fixtures
@pytest.mark.parametrize("epsilon, steps, method", [(0, 500, "pgd"), (255, 3, "lesson"), (255, 1, "fgsm")])
def test_extreme_settings_do_not_crash(epsilon, steps, method):
    at = open_page({"model": SMALL})
    at.select_slider(key="adv_epsilon").set_value(epsilon).run()
    at.slider(key="adv_steps").set_value(steps).run()
    at.segmented_control(key="adv_method").set_value(method).run()
    at.button(key="adv_go").click().run()
    assert not at.exception and not at.error
    result = at.session_state["adv_result"]["result"]
    assert result.linf <= epsilon and result.method == method
    if epsilon == 0:
        assert not result.success and "Not fooled yet" in at.warning[0].value
        assert result.steps == 0 and "Raise the budget" in at.warning[0].value
        assert "A budget of 0 pixel levels allows no change" in texts(at)


def test_works_with_a_users_own_classifier(tiny_classifier):
    model = tiny_classifier(["mug", "rocket", "spaceman"])
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["user_models"] = {"space things": model}
    at.run()
    at.switch_page("pages/adversarial.py").run()
    at.selectbox(key="adv_model").select("Yours: space things").run()
    assert "Your classifier: mug, rocket, spaceman" in texts(at)
    with pytest.raises(KeyError):
        at.multiselect(key="adv_also")  # no ImageNet ensemble for a model without ImageNet classes
    at.select_slider(key="adv_epsilon").set_value(64).run()
    at.button(key="adv_go").click().run()
    assert not at.exception and not at.error
    result = at.session_state["adv_result"]["result"]
    assert result.target == 2 and result.linf <= 64
    # ImageNet networks know no 'spaceman': the verdict section says so instead of failing
    assert "they do not know 'spaceman'" in texts(at)


def test_a_second_student_with_the_same_settings_gets_the_attack_computed_once(tiny_classifier, monkeypatch):
    from tests.test_shared_jobs import count_calls

    calls = count_calls(monkeypatch, attacks, "adversarial")
    students = []
    for _ in range(2):  # each student uploads the same model file: equal weights, the same fingerprint
        at = AppTest.from_file(APP, default_timeout=300)
        at.session_state["user_models"] = {"toys": tiny_classifier(["bowl", "kite", "robot"], seed=5)}
        at.run()
        at.switch_page("pages/adversarial.py").run()
        at.selectbox(key="adv_model").select("Yours: toys").run()
        at.select_slider(key="adv_epsilon").set_value(64).run()
        at.button(key="adv_go").click().run()
        assert not at.exception and not at.error
        students.append(at)
    first, second = students
    assert len(calls) == 1  # one computation for both
    assert "Computed once for the class" not in texts(first)
    assert "Computed once for the class: this result was already on the server" in texts(second)
    mine, theirs = (at.session_state["adv_result"]["result"] for at in students)
    assert np.array_equal(mine.image, theirs.image) and mine.history == theirs.history


@needs_fixtures
@pytest.mark.slow
def test_an_ensemble_of_every_network_never_says_0_of_the_0():
    """Issue 23: with every network in the ensemble none is left that the attack never saw."""
    at = open_page({"model": SMALL, "eps": "4", "sure": "0"})
    at.multiselect(key="adv_also").set_value(["mobilenet_0.75", "mobilenet_v2"]).run()
    at.button(key="adv_go").click().run()
    assert not at.exception and not at.error
    at.button(key="adv_judge").click().run()
    assert not at.exception
    words = texts(at)
    assert "of the 0" not in words
    assert "Every network with weights here was attacked, so none is left that the attack never saw." in words
