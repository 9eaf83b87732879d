"""The Transfer learning page inside the app's navigation: data, training, evaluation, keeping the model."""

from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.datasets import augmented_copies
from tests.conftest import ROOT, needs_fixtures

APP = str(ROOT / "streamlit_app.py")
pytestmark = needs_fixtures


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240).run()
    at.switch_page("pages/transfer_learning.py").run()
    assert not at.exception, at.exception
    return at


def test_page_opens_with_two_empty_classes():
    at = open_page()
    assert at.title[0].value == "Transfer learning"
    assert [t.value for t in at.text_input][:2] == ["Class 1", "Class 2"]
    assert len(at.get("file_uploader")) == 2
    train = next(b for b in at.button if b.label == "Train")
    assert train.disabled
    assert any("at least two classes" in i.value for i in at.info)
    add = next(b for b in at.button if b.label == "Add a class")
    add.click().run()
    assert len(at.get("file_uploader")) == 3 and not at.exception


def test_a_bad_folder_is_a_clear_error_and_nothing_breaks(tmp_path):
    at = open_page()
    at.segmented_control(key="tl_source").set_value("Local folder").run()
    at.text_input(key="tl_folder").set_value(str(tmp_path / "missing")).run()
    next(b for b in at.button if b.label == "Load folder").click().run()
    assert not at.exception
    assert any("Nothing at" in e.value for e in at.error)


def test_train_on_a_local_folder_then_evaluate_and_keep(tmp_path, fixture_images):
    import explorer

    for i, name in enumerate(("cat", "dog")):
        (tmp_path / name).mkdir()
        for j, view in enumerate(augmented_copies(explorer.load_image(fixture_images / f"{name}.jpg"), 10, i, 128)):
            Image.fromarray(view).save(tmp_path / name / f"{j}.jpg")
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"not a photo")

    at = open_page()
    at.segmented_control(key="tl_source").set_value("Local folder").run()
    at.text_input(key="tl_folder").set_value(str(tmp_path)).run()
    next(b for b in at.button if b.label == "Load folder").click().run()
    assert not at.exception and not at.error
    assert any("1 file(s) skipped" in e.label for e in at.expander)
    at.selectbox(key="tl_backbone").set_value("mobilenet_0.25").run()
    at.slider(key="tl_epochs").set_value(25).run()
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]

    result = at.session_state["tl_result"]
    assert result.class_names == ["cat", "dog"] and result.val_accuracy >= 0.75
    metric = at.metric[0]
    assert metric.label == "Validation accuracy" and metric.value == f"{result.val_accuracy:.0%}"
    models = at.session_state["user_models"]
    assert list(models) == ["cat vs dog (MobileNet, alpha 0.25)"]
    assert explorer.class_names_of(models["cat vs dog (MobileNet, alpha 0.25)"]) == ["cat", "dog"]
    charts = {c.proto.id for c in at.get("plotly_chart")}
    assert len(charts) >= 4  # counts, curves, per-class, confusion matrix, photo guess
    assert len(at.get("download_button")) == 1


def test_fine_tuning_on_the_demo_set_continues_the_curves():
    at = open_page()
    at.segmented_control(key="tl_source").set_value("Demo set").run()
    at.selectbox(key="tl_backbone").set_value("mobilenet_0.25").run()
    at.slider(key="tl_epochs").set_value(3).run()
    at.toggle(key="tl_fine_tune").set_value(True).run()
    at.slider(key="tl_ft_layers").set_value(5).run()
    at.slider(key="tl_ft_epochs").set_value(1).run()
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception and not at.error
    result = at.session_state["tl_result"]
    assert result.fine_tune_start == 3 and len(result.history["loss"]) == 4
    assert len(result.class_names) == 4 and any(m.label.startswith("Top-3") for m in at.metric)
    assert any("fine-tuning began" in c.value for c in at.caption)
