"""The Transfer learning page inside the app's navigation: data, training, evaluation, keeping the model."""

from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.data.datasets import augmented_copies
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
    # issue 24: the phone download (TensorFlow Lite zip) beside the .keras one
    assert [b.proto.label for b in at.get("download_button")] == ["Download as .keras", "Download for phones (.tflite)"]
    assert any("labels.txt" in c.value and "128x128" in c.value for c in at.caption)

    # issue 23: switching the source hides the evaluation of images that are no longer on the page
    at.segmented_control(key="tl_source").set_value("Webcam, class by class").run()
    assert not at.exception
    assert not at.metric and not any("classified correctly" in m.value for m in at.success)
    assert any("The last model was trained on the images from *Local folder*" in c.value for c in at.caption)


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
    # The default new photo is a held-out view, and the page is honest that the demo set made it from a sample.
    assert at.segmented_control(key="tl_try_from").value == "A held-out photo"
    assert any("never trained on" in c.value and "one sample photo" in c.value for c in at.caption)


def _jpeg(name: str) -> bytes:
    from explorer.data.samples import sample_path

    return sample_path(name).read_bytes()


def _shoot(at: AppTest, data: bytes, name: str = "shot.jpg") -> AppTest:
    """One camera shot, as the browser's st.camera_input would send it."""
    at.camera_input[0].set_value((name, data, "image/jpeg")).run()
    assert not at.exception, at.exception
    return at


def test_webcam_shots_go_to_the_chosen_class_and_train_like_uploads():
    at = open_page()
    at.segmented_control(key="tl_source").set_value("Webcam, class by class").run()
    assert len(at.camera_input) == 1 and not at.exception
    at.text_input(key="tl_cam_name_0").set_value("cat").run()
    at.text_input(key="tl_cam_name_1").set_value("cup").run()
    for _ in range(4):  # each shot lands in "cat" and the camera comes back fresh for the next one
        _shoot(at, _jpeg("Cat (Chelsea)"))
    classes = at.session_state["tl_cam_classes"]
    assert [len(c["shots"]) for c in classes] == [4, 0]
    assert at.camera_input[0].proto.id != "" and "cat" in at.camera_input[0].label

    at.radio(key="tl_cam_target").set_value(1).run()
    assert "cup" in at.camera_input[0].label
    for _ in range(3):
        _shoot(at, _jpeg("Coffee cup"))
    _shoot(at, b"not a jpeg at all", "broken.jpg")  # a bad shot: a clear message, nothing added
    assert any("could not be read" in e.value for e in at.error)
    assert [len(c["shots"]) for c in at.session_state["tl_cam_classes"]] == [4, 3]

    next(b for b in at.button if b.key == "tl_cam_undo_1").click().run()  # remove the last shot of "cup"
    assert [len(c["shots"]) for c in at.session_state["tl_cam_classes"]] == [4, 2]
    next(b for b in at.button if b.key == "tl_cam_add").click().run()
    assert len(at.session_state["tl_cam_classes"]) == 3
    next(b for b in at.button if b.key == "tl_cam_remove_2").click().run()
    next(b for b in at.button if b.key == "tl_cam_clear_0").click().run()
    assert [len(c["shots"]) for c in at.session_state["tl_cam_classes"]] == [0, 2]
    assert next(b for b in at.button if b.label == "Train").disabled  # "cat" is empty again
    for _ in range(3):
        _shoot(at.radio(key="tl_cam_target").set_value(0).run(), _jpeg("Cat (Chelsea)"))
    assert [len(c["shots"]) for c in at.session_state["tl_cam_classes"]] == [3, 2]

    at.selectbox(key="tl_backbone").set_value("mobilenet_0.25").run()
    at.slider(key="tl_epochs").set_value(5).run()
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = at.session_state["tl_result"]
    assert result.class_names == ["cat", "cup"]
    assert result.train_count + len(result.val_labels) == 5  # every shot, and only the shots, went into training


def test_the_default_new_photo_is_one_the_model_never_trained_on(tmp_path, fixture_images):
    """After training, 'Try a new photo' opens on a held-out image, and says so."""
    import explorer

    for i, name in enumerate(("cat", "dog")):
        (tmp_path / name).mkdir()
        for j, view in enumerate(augmented_copies(explorer.load_image(fixture_images / f"{name}.jpg"), 5, i, 128)):
            Image.fromarray(view).save(tmp_path / name / f"{j}.png")
    at = open_page()
    at.segmented_control(key="tl_source").set_value("Local folder").run()
    at.text_input(key="tl_folder").set_value(str(tmp_path)).run()
    next(b for b in at.button if b.label == "Load folder").click().run()
    at.selectbox(key="tl_backbone").set_value("mobilenet_0.25").run()
    at.slider(key="tl_epochs").set_value(3).run()
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception and not at.error
    result = at.session_state["tl_result"]
    assert at.segmented_control(key="tl_try_from").value == "A held-out photo"
    held_out = at.selectbox(key="tl_try_index")
    assert held_out.value == 0 and len(held_out.options) == len(result.val_labels) == 2
    assert any("never trained on" in c.value for c in at.caption)
    # The held-out image is none of the training images.
    import numpy as np

    from explorer.models.classifier import seen_at
    from explorer.transfer.training import split

    train_idx, val_idx = split(np.array([0] * 5 + [1] * 5), 0.2, 0)
    images = [seen_at(explorer.load_image(p), result.val_images.shape[1:3])
              for name in ("cat", "dog") for p in sorted((tmp_path / name).iterdir())]
    assert np.array_equal(result.val_images[0], images[val_idx[0]])
    assert all(not np.array_equal(result.val_images[0], images[i]) for i in train_idx)

    at.segmented_control(key="tl_try_from").set_value("Sample, upload or camera").run()
    assert not at.exception and at.selectbox(key="tl_try_sample").value == "Cat (Chelsea)"
    assert at.query_params["try"] == "Sample, upload or camera" and at.query_params["photo"] == "Cat (Chelsea)"


def test_a_lesson_link_restores_the_controls_and_a_changed_slider_goes_back_into_the_url():
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.switch_page("pages/transfer_learning.py")
    at.query_params.update({"data": "Demo set", "backbone": "mobilenet_0.25", "epochs": "7", "fine_tune": "1",
                            "ft_layers": "5", "rate": "0.003", "validation": "0.3", "ft_rate": "0.00003"})
    at.run()
    assert not at.exception and not any("could not be used" in i.value for i in at.info)
    assert at.segmented_control(key="tl_source").value == "Demo set"
    assert at.selectbox(key="tl_backbone").value == "mobilenet_0.25"
    assert at.slider(key="tl_epochs").value == 7 and at.toggle(key="tl_fine_tune").value is True
    assert at.slider(key="tl_ft_layers").value == 5
    assert at.select_slider(key="tl_lr").value == 0.003 and at.select_slider(key="tl_val").value == 0.3
    assert at.select_slider(key="tl_ft_lr").value == 3e-5
    assert "0.00003" in at.select_slider(key="tl_ft_lr").format_func(3e-5)  # plain decimals, never 3e-05
    at.slider(key="tl_epochs").set_value(12).run()
    assert at.slider(key="tl_epochs").value == 12 and at.query_params["epochs"] == "12"
    assert at.query_params["backbone"] == "mobilenet_0.25" and at.query_params["data"] == "Demo set"
    assert any("epochs=12" in c.value and "backbone=mobilenet_0.25" in c.value for c in at.code)  # the share link


def test_bad_link_values_fall_back_to_defaults_with_a_notice():
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.switch_page("pages/transfer_learning.py")
    at.query_params.update({"epochs": "500", "backbone": "resnet9000", "data": "Magic", "batch": "nan",
                            "fine_tune": "1", "ft_layers": "900"})
    at.run()
    assert not at.exception
    assert at.slider(key="tl_epochs").value == 10 and at.selectbox(key="tl_backbone").value == "mobilenet_v2"
    assert at.segmented_control(key="tl_source").value == "Upload per class"
    assert at.select_slider(key="tl_batch").value == 16
    notice = next(i.value for i in at.info if "could not be used" in i.value)
    assert "epochs=500" in notice and "backbone=resnet9000" in notice and "batch=nan" in notice
    layers = at.slider(key="tl_ft_layers")  # more layers than MobileNetV2 has: the most it has
    assert layers.value == layers.max < 900


def test_presentation_mode_enlarges_the_charts():
    import json

    from ui import present

    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params["present"] = "1"
    at.run()
    at.switch_page("pages/transfer_learning.py")
    at.query_params["data"] = "Demo set"
    at.run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    counts = next(s for s in specs if s["layout"]["title"]["text"] == "Images per class")
    assert counts["layout"]["xaxis"]["tickfont"]["size"] == present.TICK_PX
    curves = next(s for s in specs if "epoch" in json.dumps(s["layout"].get("xaxis", {})))
    assert curves["layout"]["yaxis"]["tickfont"]["size"] == present.TICK_PX


def test_a_second_student_training_on_the_demo_set_gets_the_same_classifier_computed_once(monkeypatch):
    from explorer.transfer import shared
    from tests.test_shared_jobs import count_calls

    calls = count_calls(monkeypatch, shared.training, "train_classifier")
    students = []
    for _ in range(2):
        at = open_page()
        at.segmented_control(key="tl_source").set_value("Demo set").run()
        at.selectbox(key="tl_backbone").set_value("mobilenet_0.25").run()
        at.slider(key="tl_epochs").set_value(2).run()
        next(b for b in at.button if b.label == "Train").click().run()
        assert not at.exception and not at.error
        students.append(at)
    first, second = students
    assert len(calls) == 1  # one training for both
    captions = [" ".join(c.value for c in at.caption) for at in students]
    assert "Computed once for the class" not in captions[0]
    assert "Computed once for the class: this result was already on the server" in captions[1]
    assert "(when it was computed)" in captions[1]
    mine, theirs = (at.session_state["tl_result"] for at in students)
    assert mine.history == theirs.history and mine.class_names == theirs.class_names
    # each student keeps it as their own model; the shared classifier itself is never changed
    assert list(second.session_state["user_models"].values())[0] is theirs.model
