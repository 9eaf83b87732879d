"""Users' own .keras classifiers: loaded with safe_mode, checked, wrapped to 0..255 in, probabilities out."""

import io
import json
import zipfile

import keras
import numpy as np
import pytest

import explorer
from explorer.models import user_models
from explorer.models.classifier import class_names_of, metadata
from explorer.models.user_models import ModelFileError, load_user_model
from tests.conftest import make_tiny_classifier

SIDE = 32


def tiny_classifier(classes=3, activation="softmax", with_lambda=False, seed=0):
    return make_tiny_classifier(classes, SIDE, seed, activation, with_lambda)


def keras_bytes(model, tmp_path, name="model.keras") -> bytes:
    path = tmp_path / name
    model.save(path)
    return path.read_bytes()


def rewrite(data: bytes, **members) -> bytes:
    """A copy of a .keras zip with some members replaced (bytes) or removed (None)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename not in members:
                dst.writestr(info, src.read(info))
        for name, content in members.items():
            if content is not None:
                dst.writestr(name, content)
    return out.getvalue()


def photos(n=2):
    return np.random.default_rng(1).uniform(0, 255, (n, SIDE, SIDE, 3)).astype("float32")


def test_a_softmax_classifier_loads_unchanged(tmp_path):
    inner = tiny_classifier()
    model = load_user_model(keras_bytes(inner, tmp_path), class_names="cat\ndog\nbird", name="pets")
    x = photos()
    np.testing.assert_allclose(model.predict(x, verbose=0), inner.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert class_names_of(model) == ["cat", "dog", "bird"]
    assert metadata(model).outputs == "probabilities" and metadata(model).name == "pets"
    assert model.input_shape == (None, SIDE, SIDE, 3) and model.output_shape == (None, 3)


def test_logits_get_a_softmax_and_the_input_range_is_rescaled(tmp_path):
    inner = tiny_classifier(classes=4, activation=None)
    upload = io.BytesIO(keras_bytes(inner, tmp_path))
    upload.name = "logits.keras"  # like a Streamlit UploadedFile
    model = load_user_model(upload, input_range="0..1")
    assert metadata(model).outputs == "logits" and explorer.models.classifier.input_range(model) == "0..1"
    assert class_names_of(model) == ["class 0", "class 1", "class 2", "class 3"]
    assert not explorer.models.classifier.is_nested(model)  # built flat: feature maps reach every layer
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == ["edges", "parts"]
    x = photos()
    expected = keras.ops.convert_to_numpy(keras.activations.softmax(inner(x / 255.0)))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-6)
    assert np.allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, atol=1e-5)


def test_the_wrapped_model_has_pixel_gradients(tmp_path):
    import tensorflow as tf

    model = load_user_model(keras_bytes(tiny_classifier(), tmp_path), input_range="-1..1")
    x = tf.Variable(photos(1))
    with tf.GradientTape() as tape:
        score = model(x)[0, 1]
    grad = tape.gradient(score, x)
    assert grad.shape == x.shape and float(tf.reduce_max(tf.abs(grad))) > 0


def test_a_lambda_layer_is_refused(tmp_path):
    data = keras_bytes(tiny_classifier(with_lambda=True), tmp_path)
    with pytest.raises(ModelFileError, match="Lambda layer"):
        load_user_model(data)


def test_safe_mode_is_the_second_line_of_defence(tmp_path, monkeypatch):
    """Even with the architecture scan switched off, Keras' safe_mode refuses the lambda's code."""
    data = keras_bytes(tiny_classifier(with_lambda=True), tmp_path)
    monkeypatch.setattr(user_models, "_check_config", lambda config, name: None)
    with pytest.raises(ModelFileError, match="could not be loaded safely: .*(safe_mode|Lambda)"):
        load_user_model(data)


def test_classes_from_foreign_modules_are_refused(tmp_path):
    data = keras_bytes(tiny_classifier(), tmp_path)
    config = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("config.json"))
    config["config"]["layers"][-1]["module"] = "os"
    with pytest.raises(ModelFileError, match="module 'os'"):
        load_user_model(rewrite(data, **{"config.json": json.dumps(config)}))


def test_absurd_layer_sizes_are_refused_before_building(tmp_path, monkeypatch):
    data = keras_bytes(tiny_classifier(), tmp_path)
    config = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("config.json"))
    config["config"]["layers"][-1]["config"]["units"] = 10**9
    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **k: pytest.fail("must not build the model"))
    with pytest.raises(ModelFileError, match="units=1000000000"):
        load_user_model(rewrite(data, **{"config.json": json.dumps(config)}))


def test_a_segmentation_model_is_not_a_classifier(tmp_path):
    pixels = keras.Input((SIDE, SIDE, 3))
    mask = keras.layers.Conv2D(2, 1, activation="softmax")(pixels)
    with pytest.raises(ModelFileError, match="segmentation"):
        load_user_model(keras_bytes(keras.Model(pixels, mask), tmp_path))


@pytest.mark.parametrize("kind", ["grey", "two_inputs", "one_class"])
def test_other_shapes_are_refused(tmp_path, kind):
    if kind == "grey":
        pixels = keras.Input((SIDE, SIDE, 1))
        model = keras.Model(pixels, keras.layers.Dense(3)(keras.layers.Flatten()(pixels)))
        match = r"colour images of shape \(batch, height, width, 3\)"
    elif kind == "two_inputs":
        a, b = keras.Input((SIDE, SIDE, 3)), keras.Input((SIDE, SIDE, 3))
        model = keras.Model([a, b], keras.layers.Dense(3)(keras.layers.Flatten()(keras.layers.Add()([a, b]))))
        match = "2 input"
    else:
        model = tiny_classifier(classes=1, activation="sigmoid")
        match = "at least 2 classes"
    with pytest.raises(ModelFileError, match=match):
        load_user_model(keras_bytes(model, tmp_path))


def test_nan_weights_are_refused(tmp_path):
    model = tiny_classifier()
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    with pytest.raises(ModelFileError, match="NaN"):
        load_user_model(keras_bytes(model, tmp_path))


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    good = keras_bytes(tiny_classifier(), tmp_path)
    with pytest.raises(ModelFileError, match="not a Keras model file"):
        load_user_model(good[: len(good) // 2])  # truncated download: no zip directory
    with pytest.raises(ModelFileError, match="not a Keras model file"):
        load_user_model(b"GIF89a not a model at all")
    with pytest.raises(ModelFileError, match="empty"):
        load_user_model(b"")
    with pytest.raises(ModelFileError, match="could not be loaded safely"):
        load_user_model(rewrite(good, **{"model.weights.h5": b"\x89HDF garbage"}))
    with pytest.raises(ModelFileError, match="zip file but not a Keras model"):
        load_user_model(rewrite(good, **{"config.json": None}))
    with pytest.raises(ModelFileError, match="damaged"):
        load_user_model(rewrite(good, **{"config.json": b"{not json"}))
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(good)
    with pytest.raises(ModelFileError, match="not a .keras file"):
        load_user_model(photo)
    with pytest.raises(ModelFileError, match="No model file"):
        load_user_model(tmp_path / "missing.keras")


def test_hostile_zips_are_refused(tmp_path, monkeypatch):
    good = keras_bytes(tiny_classifier(), tmp_path)
    with pytest.raises(ModelFileError, match="unsafe path"):
        load_user_model(rewrite(good, **{"../../etc/cron.d/evil": b"* * * * * root rm -rf /"}))
    monkeypatch.setattr(user_models, "MAX_UNPACKED_BYTES", 1_000_000)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:  # 4 MB of zeros stored in a few KB
        zf.writestr("assets/bomb.bin", bytes(4_000_000))
    with pytest.raises(ModelFileError, match="zip bomb"):
        load_user_model(rewrite(good, **{"assets/bomb.bin": zipfile.ZipFile(out).read("assets/bomb.bin")}))
    monkeypatch.setattr(user_models, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(ModelFileError, match="the limit is"):
        load_user_model(good)


def test_class_names_must_match_the_outputs(tmp_path):
    with pytest.raises(ModelFileError, match="3 classes but 2 class names"):
        load_user_model(keras_bytes(tiny_classifier(), tmp_path), class_names=["cat", "dog"])
    with pytest.raises(ModelFileError, match="input_range"):
        load_user_model(b"x", input_range="0..65535")


def test_exported_explorer_models_load(tmp_path):
    """A classifier built on the app's own preprocessing layer (e.g. from transfer learning) round-trips."""
    model = explorer.load_model("mobilenet", weights=None, alpha=0.25, input_shape=(SIDE * 4, SIDE * 4, 3), classes=5)
    loaded = load_user_model(keras_bytes(model, tmp_path))
    x = np.random.default_rng(2).uniform(0, 255, (1, SIDE * 4, SIDE * 4, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
