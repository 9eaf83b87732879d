"""explorer.classifier: one idea of a classifier (metadata, classes, the one predict geometry) for every page."""

import keras
import numpy as np
import pytest

import explorer
from explorer.attacks import single as attacks, verdicts
from explorer.models import classifier
from explorer.inspect import features
from explorer import transfer
from explorer.data.datasets import augmented_copies
from tests.conftest import needs_fixtures


def _top5(probabilities) -> list[int]:
    return [int(i) for i in np.argsort(-np.asarray(probabilities), kind="stable")[:5]]


def _page_predictions(model, photo) -> dict[str, np.ndarray]:
    """The probabilities each page shows for one photo, through the functions those pages call."""
    _, feature_maps_page = features.feature_maps_and_predictions(model, photo)  # Feature maps (one pass)
    adversarial_page = explorer.predict(model, photo)  # Adversarial example, before the attack
    attack = explorer.adversarial(model, photo, 0, epsilon=0, steps=0)  # ... and the attack's own 'before'
    names = explorer.class_names_of(model)
    ranked = transfer.classify(model, photo)  # Transfer learning, 'Try a new photo'
    transfer_page = np.zeros(len(names))
    for name, p in ranked:
        transfer_page[names.index(name)] = p
    return {"feature maps": feature_maps_page, "adversarial": adversarial_page, "attack": attack.probs_before,
            "transfer": transfer_page}


@needs_fixtures
def test_same_photo_same_top5_on_every_page_for_a_trained_classifier(fixture_images, cat_photo):
    photos = {name: augmented_copies(explorer.load_image(fixture_images / f"{name}.jpg"), 6, seed=i, size=160)
              for i, name in enumerate(("cat", "dog", "parrot"))}
    model = explorer.train_classifier(photos, backbone=transfer.load_backbone("mobilenet_0.25"), epochs=3,
                                      dense_units=8, validation_split=0.0).model
    wide = np.concatenate([cat_photo, cat_photo[:, ::-1]], axis=1)  # not square: the crop matters
    for photo in (cat_photo, wide):
        shown = _page_predictions(model, photo)
        reference = shown["adversarial"]
        assert reference.shape == (3,) and abs(reference.sum() - 1) < 1e-4
        for page, probs in shown.items():
            assert _top5(probs) == _top5(reference), page
            np.testing.assert_allclose(probs, reference, atol=1e-5, err_msg=page)


@needs_fixtures
def test_same_photo_same_top5_on_every_page_for_an_imagenet_model(mobilenet_small, dog_photo):
    shown = _page_predictions(mobilenet_small, dog_photo)
    for page, probs in shown.items():
        assert _top5(probs) == _top5(shown["adversarial"]), page
        np.testing.assert_allclose(probs, shown["adversarial"], atol=1e-5, err_msg=page)


def test_one_geometry_centre_crop_then_resize(tiny_classifier):
    model = tiny_classifier(["a", "b"], size=16)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (20, 60, 3), dtype=np.uint8)
    centre = photo[:, 20:40]
    np.testing.assert_allclose(classifier.view(model, photo), classifier.view(model, centre), atol=1e-4)
    exact = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(classifier.seen_image(model, exact), exact)  # already the right size: untouched
    np.testing.assert_allclose(explorer.predict(model, exact), model(exact[None].astype("float32"))[0], atol=1e-6)


def test_metadata_is_one_record_that_survives_clone_and_keras_files(tiny_classifier, tmp_path):
    model = tiny_classifier(["mug", "rocket"])
    assert classifier.metadata(model).weights == "random (untrained)"
    assert explorer.class_names_of(model) == ["mug", "rocket"] and classifier.has_own_class_names(model)
    copy = classifier.clone(model)
    assert copy is not model and classifier.metadata(copy) == classifier.metadata(model)
    np.testing.assert_allclose(copy.get_weights()[0], model.get_weights()[0])
    # a model without its own names is named by its class count
    plain = keras.Model(model.inputs, model.outputs)
    assert explorer.class_names_of(plain) == ["class 0", "class 1"] and not classifier.has_own_class_names(plain)


@needs_fixtures
def test_a_trained_classifier_keeps_its_metadata_in_a_keras_file(tmp_path, fixture_images):
    photos = {name: [explorer.load_image(fixture_images / f"{name}.jpg")] * 2 for name in ("cat", "dog")}
    model = explorer.train_classifier(photos, backbone=transfer.load_backbone("mobilenet_0.25"), epochs=1,
                                      validation_split=0.0).model
    reloaded = transfer.load_classifier(transfer.classifier_bytes(model))
    assert explorer.class_names_of(reloaded) == ["cat", "dog"]
    assert classifier.metadata(reloaded).weights == classifier.metadata(model).weights
    assert classifier.metadata(model).weights.startswith("transfer learning on ImageNet")


def test_zoo_models_and_multi_head_models(tiny_classifier):
    googlenet = explorer.load_model("googlenet", weights=None)
    assert explorer.num_classes(googlenet) == 1000 and len(explorer.class_names_of(googlenet)) == 1000
    assert classifier.metadata(googlenet).name == "googlenet"
    assert not explorer.models.zoo.MODELS["googlenet"].pretrained and explorer.models.zoo.MODELS["vgg16"].pretrained
    probs = explorer.predict(googlenet, np.zeros((50, 70, 3), np.uint8))
    assert probs.shape == (1000,)  # the main head of [main, aux1, aux2]
    assert explorer.input_size(googlenet) == (224, 224)
    maps_only = explorer.load_model("vgg16", weights=None, include_top=False)
    assert explorer.num_classes(maps_only) is None  # no classifier on top


def test_nested_models_are_rebuilt_flat_with_the_same_layers(tiny_classifier):
    inner = tiny_classifier(["a", "b", "c"])
    nested = keras.Sequential([keras.Input((32, 32, 3)), inner])
    assert classifier.is_nested(nested)
    flat = classifier.flatten(nested)
    assert not classifier.is_nested(flat) and flat.get_layer("edges") is inner.get_layer("edges")
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(flat(x), inner(x), atol=1e-6)


def test_the_old_names_still_answer(tiny_classifier):
    model = tiny_classifier(["a", "b"])
    photo = np.full((20, 20, 3), 100, np.uint8)
    np.testing.assert_array_equal(attacks.predict(model, photo), explorer.predict(model, photo))
    assert explorer.optvis.predict is explorer.predict and attacks.class_names_of is explorer.class_names_of


@pytest.mark.parametrize("key", ["mobilenet_0.75", "mobilenet_0.25", "googlenet"])
def test_one_registry_of_model_configurations(key):
    spec = explorer.VARIANTS[key]
    assert spec.key == key and spec.title
    if key.startswith("mobilenet_0"):
        assert spec.kwargs() == {"alpha": spec.alpha, "input_shape": (spec.side, spec.side, 3)}
        assert spec.kwargs(include_top=False)["pooling"] == "avg" and key in transfer.BACKBONES
    else:
        assert not spec.pretrained and key not in transfer.BACKBONES


def test_shared_predict_is_one_pass_per_model_and_photo_for_the_whole_server(tiny_classifier, monkeypatch):
    """Thirty students' reruns showing the same finished picture judged by a second network: one pass."""
    model = tiny_classifier(["a", "b", "c"], size=16, seed=5)
    twin = tiny_classifier(["a", "b", "c"], size=16, seed=5)  # another object with the same weights
    other = tiny_classifier(["a", "b", "c"], size=16, seed=6)
    photo = np.random.default_rng(7).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    real, passes = classifier.predict, []
    counted = lambda m, image: passes.append(m) or real(m, image)  # noqa: E731
    monkeypatch.setattr(classifier, "predict", counted)
    monkeypatch.setattr(attacks, "predict", counted)  # the transfer check must not make passes of its own

    first = verdicts.shared_predict(model, photo)
    np.testing.assert_array_equal(first, real(model, photo))
    assert not first.flags.writeable  # shared by every session: nobody may change it
    assert verdicts.shared_predict(twin, photo.copy()) is first
    assert verdicts.check_transfer(model, photo, photo, "b").probability_after == float(first[1])
    assert len(passes) == 1
    assert not np.array_equal(verdicts.shared_predict(other, photo), first)
    verdicts.shared_predict(model, 255 - photo)
    assert len(passes) == 3  # another network, another photo: each its own pass
