"""The model zoo: real ImageNet predictions offline, honest errors when weights are missing."""

import numpy as np
import pytest

import explorer
from explorer import weights
from explorer.models import zoo
from tests.conftest import needs_fixtures


@needs_fixtures
def test_mobilenet_v2_fixture_sees_a_cat(mobilenet_v2, cat_photo):
    x = explorer.load_image(cat_photo, size=224)[None].astype("float32")
    probs = mobilenet_v2.predict(x, verbose=0)
    assert probs.shape == (1, 1000)
    assert np.isclose(probs.sum(), 1.0, atol=1e-3)
    top = explorer.decode(probs, top=1)[0]
    assert top[0] in explorer.CAT_CLASSES, top
    assert top[1] == "Egyptian cat" and top[2] > 0.6
    assert "ImageNet" in explorer.weights_label(mobilenet_v2)


@needs_fixtures
def test_preprocessing_is_inside_the_model(mobilenet_v2):
    assert mobilenet_v2.layers[1].name == "preprocess"
    # pixels 0..255 in: black and white images give different, valid distributions
    out = mobilenet_v2.predict(np.stack([np.zeros((224, 224, 3)), np.full((224, 224, 3), 255.0)]), verbose=0)
    assert out.shape == (2, 1000) and not np.allclose(out[0], out[1])


def test_missing_weights_raise_a_clear_error(monkeypatch):
    monkeypatch.setattr(weights, "online", lambda timeout=2.0: False)
    with pytest.raises(explorer.WeightsUnavailable) as info:
        explorer.load_model("resnet50")
    message = str(info.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert "python -m explorer.weights prefetch resnet50" in message
    assert info.value.file_name == "resnet50_weights_tf_dim_ordering_tf_kernels.h5"


def test_googlenet_has_three_outputs():
    model = explorer.load_model("googlenet", weights=None)
    assert len(model.outputs) == 3
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1000)] * 3
    heads = [model.get_layer(n) for n in ("main", "aux1", "aux2")]
    assert [h.output for h in heads] == list(model.outputs)
    assert explorer.weights_label(model) == "random (untrained)"


def test_googlenet_feature_shapes_follow_the_paper():
    model = explorer.load_model("googlenet", weights=None, include_top=False, input_shape=(224, 224, 3))
    shapes = {l.name: tuple(l.output.shape[1:]) for l in model.layers}
    assert shapes["pool2_3x3_s2"] == (28, 28, 192)
    assert shapes["inception_3a_output"] == (28, 28, 256)
    assert shapes["inception_3b_output"] == (28, 28, 480)
    assert shapes["inception_4e_output"] == (14, 14, 832)
    assert shapes["inception_5b_output"] == (7, 7, 1024)


def test_vgg16_structure_without_weights():
    model = explorer.load_model("vgg16", weights=None, include_top=False, input_shape=(224, 224, 3))
    names = [l.name for l in model.layers]
    assert names[:3] == ["pixels", "preprocess", "block1_conv1"]
    assert model.get_layer("block5_conv3").output.shape[1:] == (14, 14, 512)
    assert model.count_params() == 14_714_688  # VGG16 conv base, as in the paper / Keras docs


def test_unknown_model_name():
    with pytest.raises(ValueError, match="Choose one of"):
        explorer.load_model("alexnet")


def test_every_name_has_metadata():
    assert set(zoo.MODEL_NAMES) == {"vgg16", "vgg19", "resnet50", "mobilenet", "mobilenet_v2", "inception_v3",
                                    "inception_resnet_v2", "googlenet"}
    for name in zoo.MODEL_NAMES:
        info = zoo.model_info(name)
        assert info.input_size in (224, 299) and info.year >= 2014


@needs_fixtures
def test_weights_status_sees_the_fixture_cache():
    rows = {r["file"]: r["present"] for r in weights.status()}
    assert rows["mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"]
    assert rows["mobilenet_7_5_192_tf.h5"]
    assert not rows["vgg16_weights_tf_dim_ordering_tf_kernels.h5"]
    assert explorer.class_name(284) == "Siamese cat"
