"""Transfer learning: real photos separate, training is deterministic, fine-tuning touches only the
last N layers, and the classifier survives a .keras round trip."""

import numpy as np
import pytest

import explorer
from explorer import transfer
from explorer.data.datasets import DatasetError, augmented_copies
from explorer.transfer import TransferResult, classifier_bytes, classify, load_backbone, load_classifier, split
from tests.conftest import needs_fixtures

pytestmark = needs_fixtures


@pytest.fixture(scope="module")
def photos(fixture_images):
    """Three classes, each one real photo seen 12 ways (random crops, flips, colour jitter)."""
    return {name: augmented_copies(explorer.load_image(fixture_images / f"{name}.jpg"), 12, seed=i, size=160)
            for i, name in enumerate(("cat", "dog", "parrot"))}


@pytest.fixture(scope="module")
def tiny_backbone():
    """Real ImageNet MobileNet (alpha 0.25, 128 px) without its top: fast enough for many tests."""
    return load_backbone("mobilenet_0.25")


def test_real_photos_reach_high_accuracy_with_mobilenet_v2(photos):
    backbone = load_backbone("mobilenet_v2")
    result = explorer.train_classifier(photos, backbone=backbone, epochs=8, seed=0)
    assert result.class_names == ["cat", "dog", "parrot"]
    assert result.val_accuracy >= 0.9, result.history
    assert result.history["loss"][-1] < result.history["loss"][0] / 2
    assert len(result.history["val_accuracy"]) == 8
    assert result.confusion_matrix().sum() == len(result.val_labels) == 6  # 2 of 12 per class held out
    # the classifier takes raw 0..255 pixels (classify resizes any photo) and knows its classes
    best = classify(result.model, photos["parrot"][0])
    assert best[0][0] == "parrot" and abs(sum(p for _, p in best) - 1) < 1e-4


TRAINING = {"epochs": 3, "seed": 7, "dense_units": 8, "augment_copies": 1}


@pytest.fixture(scope="module")
def trained(photos, tiny_backbone):
    """One small training run (with augmentation), and every callback event it sent."""
    events = []
    result = explorer.train_classifier(photos, backbone=tiny_backbone, callback=lambda *e: events.append(e), **TRAINING)
    return result, events


def test_training_is_deterministic_for_a_seed(photos, tiny_backbone, trained):
    again = explorer.train_classifier(photos, backbone=tiny_backbone, **TRAINING)
    assert again.history == trained[0].history
    np.testing.assert_array_equal(again.val_probabilities, trained[0].val_probabilities)
    other = explorer.train_classifier(photos, backbone=tiny_backbone, **{**TRAINING, "seed": 8})
    assert other.history != trained[0].history


def test_callback_reports_embeddings_then_epochs(trained):
    events = trained[1]
    embedded = [e for e in events if e[0] == "embeddings"]
    assert embedded[-1][1] == embedded[-1][2] == 36 + 30  # every image once, each of 30 training images augmented once
    assert [e[1] for e in embedded] == sorted(e[1] for e in embedded)
    epochs = [e for e in events if e[0] == "head"]
    assert [(e[1], e[2]) for e in epochs] == [(1, 3), (2, 3), (3, 3)]
    assert set(epochs[0][3]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert trained[0].history["val_accuracy"] == [e[3]["val_accuracy"] for e in epochs]


def test_fine_tuning_changes_only_the_last_layers(photos, tiny_backbone):
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in tiny_backbone.layers}
    events = []
    n = 6
    result = explorer.train_classifier(photos, backbone=tiny_backbone, epochs=2, fine_tune_layers=n, fine_tune_epochs=2,
                                       fine_tune_learning_rate=1e-3, callback=lambda *e: events.append(e))
    tail = [layer.name for layer in tiny_backbone.layers[-n:]]
    assert result.fine_tuned_layers == tail
    changed = []
    for layer in result.model.layers:
        if layer.name in before and before[layer.name]:
            same = all(np.array_equal(a, b) for a, b in zip(before[layer.name], layer.get_weights()))
            if not same:
                changed.append(layer.name)
    assert changed and set(changed) <= set(tail), changed
    assert not any("bn" in name for name in changed)  # BatchNorm stays frozen
    # the shared backbone was cloned, never trained
    for layer in tiny_backbone.layers:
        assert all(np.array_equal(a, b) for a, b in zip(before[layer.name], layer.get_weights()))
    assert result.fine_tune_start == 2 and len(result.history["loss"]) == 4
    assert [e[1] for e in events if e[0] == "fine_tune"] == [3, 4]


def test_export_and_reload_round_trip(trained, tmp_path):
    result = trained[0]
    model = result.model
    assert explorer.class_names_of(model) == ["cat", "dog", "parrot"]
    assert model.layers[1].name == "preprocess" and model.input_shape == (None, 128, 128, 3)
    assert all(layer.output is not None for layer in model.layers)  # one graph: every activation reachable
    pixels = result.val_images.astype("float32")
    expected = model.predict(pixels, verbose=0)
    np.testing.assert_allclose(expected, result.val_probabilities, atol=1e-5)
    reloaded = load_classifier(classifier_bytes(model))
    assert explorer.class_names_of(reloaded) == ["cat", "dog", "parrot"]
    np.testing.assert_allclose(reloaded.predict(pixels, verbose=0), expected, atol=1e-5)
    model.save(tmp_path / "mine.keras")  # the plain Keras way works too
    from_file = load_classifier(tmp_path / "mine.keras")
    np.testing.assert_allclose(from_file.predict(pixels, verbose=0), expected, atol=1e-5)
    assert explorer.class_names_of(from_file) == ["cat", "dog", "parrot"]


def test_trains_from_a_dataset_folder(tmp_path, photos, tiny_backbone):
    from PIL import Image

    for name, images in photos.items():
        (tmp_path / name).mkdir()
        for i, image in enumerate(images[:6]):
            Image.fromarray(image).save(tmp_path / name / f"{i}.png")
    result = explorer.train_classifier(tmp_path, backbone=tiny_backbone, epochs=1, validation_split=0.0)
    assert result.class_names == ["cat", "dog", "parrot"] and result.train_count == 18
    assert result.val_accuracy is None and "val_loss" not in result.history


def test_bad_arguments_are_clear_errors(photos, tiny_backbone):
    with pytest.raises(DatasetError, match="at least 2 classes"):
        explorer.train_classifier({"cat": photos["cat"]}, backbone=tiny_backbone)
    with pytest.raises(DatasetError, match="'dog' has no images"):
        explorer.train_classifier({"cat": photos["cat"], "dog": []}, backbone=tiny_backbone)
    for bad in ({"epochs": 0}, {"learning_rate": float("nan")}, {"validation_split": 1.0}, {"dropout": 1.5},
                {"fine_tune_layers": -1}, {"batch_size": 2.5}):
        with pytest.raises(ValueError):
            explorer.train_classifier(photos, backbone=tiny_backbone, **bad)
    with pytest.raises(ValueError, match="Unknown backbone"):
        explorer.train_classifier(photos, backbone="alexnet")


def test_split_is_stratified_and_keeps_a_training_image():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2)
    train, val = split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([train, val])) == list(range(17))
    assert [int(np.sum(labels[val] == c)) for c in range(3)] == [2, 1, 1]
    assert np.array_equal(split(labels, 0.2, seed=3)[1], val)
    assert len(split(labels, 0.0)[1]) == 0


def test_evaluation_metrics_on_known_predictions():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1]])
    result = TransferResult(model=None, class_names=["a", "b", "c"], history={}, val_accuracy=0.5,
                            val_images=np.zeros((4, 2, 2, 3), np.uint8), val_labels=np.array([0, 1, 1, 2]),
                            val_probabilities=probs)
    np.testing.assert_array_equal(result.confusion_matrix(), [[1, 0, 0], [0, 1, 1], [1, 0, 0]])
    assert result.per_class_accuracy() == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert result.top_k_accuracy(1) == 0.5 and result.top_k_accuracy(2) == 0.75 and result.top_k_accuracy(3) == 1.0
    wrong = result.misclassified()
    assert [(w["index"], w["true"], w["predicted"]) for w in wrong] == [(1, "b", "c"), (3, "c", "a")]
    assert wrong[0]["confidence"] == pytest.approx(0.6)


def test_backbones_cover_the_zoo_and_build_without_weights():
    assert set(b.model for b in transfer.BACKBONES.values()) == set(explorer.MODEL_NAMES) - {"googlenet"}
    model = load_backbone("vgg16", weights=None)
    assert model.output_shape == (None, 512) and model.input_shape == (None, 224, 224, 3)
