"""Export for phones (issue 24): a .tflite file answers like the Keras model on real photos.

Every comparison runs the TensorFlow Lite interpreter on the very batch the app feeds the Keras model
(:func:`explorer.models.classifier.view`: float pixels 0..255 at the model's input size), against
:func:`explorer.predict` on the uint8 photo.
"""

import io
import zipfile

import numpy as np
import pytest

import explorer
from explorer.data.datasets import augmented_copies
from explorer.models import classifier
from explorer.models.export import export_tflite, labels_txt, tflite_classifier, tflite_zip
from explorer.transfer import load_backbone
from tests.conftest import make_tiny_classifier, needs_fixtures

PHOTOS = ("cat", "dog", "parrot")
# Float export vs Keras, max |difference| of probabilities over cat, dog, parrot: MobileNet 0.25/128
# 2.5e-6, MobileNetV2 1.2e-6, transfer classifier 1.3e-6, upload 2.5e-6 (oneDNN on and off alike).
FLOAT_TOLERANCE = 1e-3  # the bar


@pytest.fixture(scope="module")
def photos(fixture_images):
    return [explorer.load_image(fixture_images / f"{name}.jpg") for name in PHOTOS]


def differences(model, data, photos) -> tuple[float, list[int], list[int]]:
    """(max |Keras - TFLite| over the photos, Keras's top-1 per photo, TFLite's top-1 per photo)."""
    run = tflite_classifier(data)
    worst, keras_top, lite_top = 0.0, [], []
    for photo in photos:
        expected, got = explorer.predict(model, photo), run(classifier.view(model, photo))
        assert got.shape == expected.shape
        worst = max(worst, float(np.abs(expected - got).max()))
        keras_top.append(int(expected.argmax()))
        lite_top.append(int(got.argmax()))
    return worst, keras_top, lite_top


@needs_fixtures
def test_real_mobilenet_matches_keras_and_keeps_the_0_255_contract(mobilenet_small, photos):
    data = export_tflite(mobilenet_small)
    worst, keras_top, lite_top = differences(mobilenet_small, data, photos)
    assert worst < FLOAT_TOLERANCE and lite_top == keras_top
    # the file takes float pixels 0..255 of the model's size, batch 1, and gives probabilities
    run = tflite_classifier(data)
    seen = classifier.seen_image(mobilenet_small, photos[0])  # uint8 128x128x3
    assert seen.dtype == np.uint8 and seen.shape == (128, 128, 3)
    probabilities = run(seen.astype(np.float32))
    np.testing.assert_allclose(probabilities, explorer.predict(mobilenet_small, seen), atol=FLOAT_TOLERANCE)
    assert abs(probabilities.sum() - 1) < 1e-4
    assert explorer.is_cat(probabilities.argmax())
    # the same photo scaled to 0..1 is not what the file expects: the answer changes completely
    assert run(seen.astype(np.float32) / 255).argmax() != probabilities.argmax()
    assert export_tflite(mobilenet_small) is data  # made once per model


@needs_fixtures
def test_mobilenet_v2_float_and_dynamic_range(mobilenet_v2, photos):
    data = export_tflite(mobilenet_v2)
    worst, keras_top, lite_top = differences(mobilenet_v2, data, photos)
    assert worst < FLOAT_TOLERANCE and lite_top == keras_top
    small = export_tflite(mobilenet_v2, quantize="dynamic")
    # 14.0 MB float, 3.8 MB with 8-bit weights
    assert len(small) < len(data) / 3
    worst, keras_top, lite_top = differences(mobilenet_v2, small, photos)
    # 8-bit weights: max |difference| 0.025 (oneDNN on and off), on the dog. Top-1 agrees on all three here,
    # but the dog's is close (Keras 0.302 vs 0.254, 8-bit 0.277 vs 0.259): asserted where Keras leads by
    # more than 0.5 (cat 0.87, parrot 0.997); the dog stays a dog breed.
    assert worst < 0.1
    assert [lite_top[0], lite_top[2]] == [keras_top[0], keras_top[2]] and explorer.is_dog(lite_top[1])


@needs_fixtures
def test_a_trained_transfer_classifier_exports_with_its_labels(photos):
    views = {name: augmented_copies(photo, 8, seed=i, size=160) for i, (name, photo) in enumerate(zip(PHOTOS, photos))}
    result = explorer.train_classifier(views, backbone=load_backbone("mobilenet_0.25"), epochs=8, seed=0)
    data = export_tflite(result.model)
    worst, keras_top, lite_top = differences(result.model, data, photos)
    assert worst < FLOAT_TOLERANCE and lite_top == keras_top
    assert labels_txt(result.model) == "cat\ndog\nparrot\n"
    with zipfile.ZipFile(io.BytesIO(tflite_zip(result.model))) as zf:
        assert sorted(zf.namelist()) == ["README.txt", "labels.txt", "model.tflite"]
        assert zf.read("model.tflite") == data
        assert zf.read("labels.txt").decode() == "cat\ndog\nparrot\n"
        readme = zf.read("README.txt").decode()
    assert "0..255" in readme and "[1, 128, 128, 3]" in readme and "[1, 3]" in readme


@needs_fixtures
def test_an_uploaded_real_model_exports(mobilenet_small, photos, tmp_path):
    mobilenet_small.save(tmp_path / "mine.keras")
    upload = explorer.load_user_model((tmp_path / "mine.keras").read_bytes(), name="mine")
    worst, keras_top, lite_top = differences(upload, export_tflite(upload), photos)
    assert worst < FLOAT_TOLERANCE and lite_top == keras_top


def test_an_upload_trained_on_0_1_with_logits_still_takes_0_255_and_gives_probabilities(tmp_path):
    inner = make_tiny_classifier(["a", "b", "c", "d"], 32, 0, activation=None)
    inner.save(tmp_path / "logits.keras")
    upload = explorer.load_user_model((tmp_path / "logits.keras").read_bytes(), input_range="0..1",
                                      class_names="a\nb\nc\nd")
    run = tflite_classifier(export_tflite(upload))
    pixels = np.random.default_rng(3).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    for image in pixels:
        got = run(image)
        np.testing.assert_allclose(got, upload.predict(image[None], verbose=0)[0], atol=1e-5)
        assert abs(got.sum() - 1) < 1e-5  # the softmax the upload was given is in the file
    assert labels_txt(upload) == "a\nb\nc\nd\n"


def test_labels_are_one_a_line_whatever_the_names():
    model = make_tiny_classifier(["cat\nlion", "  ", "dog"], 16)
    assert labels_txt(model) == "cat lion\nclass 1\ndog\n"
    assert labels_txt(make_tiny_classifier(2, 16)) == "class 0\nclass 1\n"


def test_what_cannot_go_to_a_phone_is_a_plain_error():
    import keras

    pixels = keras.Input((16, 16, 3))
    maps = keras.Model(pixels, keras.layers.Conv2D(4, 3)(pixels))  # no classifier on top
    with pytest.raises(ValueError, match="no classifier on top"):
        export_tflite(maps)
    with pytest.raises(ValueError, match="quantize"):
        export_tflite(make_tiny_classifier(2, 16), quantize="int8")
    with pytest.raises(ValueError, match="Keras models"):
        export_tflite("model.keras")


def test_exported_from_the_package():
    assert explorer.export_tflite is export_tflite and explorer.labels_txt is labels_txt
