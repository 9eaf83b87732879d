"""Convolution by hand: the weighted sum of one patch equals what the network's first layer computed."""

import keras
import numpy as np
import pytest

import explorer
from explorer.inspect.by_hand import conv_by_hand, first_conv
from tests.conftest import needs_fixtures


@pytest.fixture(scope="module")
def vgg16():
    keras.utils.set_random_seed(0)
    return explorer.load_model("vgg16", weights=None)


# corners (the patch reaches into 'same' padding), the centre, and an odd spot
POSITIONS = [(0, 0), None, (111, 111), (37, 90)]


@pytest.mark.parametrize("position", POSITIONS)
def test_vgg16_first_conv_by_hand(vgg16, cat_photo, position):
    r = conv_by_hand(vgg16, cat_photo, position=position, channel=5)
    assert r.layer == "block1_conv1" and r.stride == (1, 1) and r.padding == "same"
    assert r.patch.shape == r.kernel.shape == r.products.shape == (3, 3, 3)
    assert r.activation == "relu"  # VGG's convolutions include their ReLU
    assert r.total == pytest.approx(float(r.products.sum()), abs=1e-4)
    assert r.by_hand == pytest.approx(max(r.pre_activation, 0.0), abs=1e-6)
    assert abs(r.by_hand - r.layer_value) <= 1e-4, (r.by_hand, r.layer_value)
    if position == (0, 0):
        assert np.all(r.patch[0] == 0) and np.all(r.patch[:, 0] == 0)  # the padding row and column
        assert r.box == (0, 0, 2, 2)
    # the patch is in the layer's input space: VGG's 'caffe' preprocessing subtracts the ImageNet mean
    assert r.patch.min() < 0


@needs_fixtures
@pytest.mark.parametrize("position", [(0, 0), None, (111, 111), (5, 100)])
def test_mobilenet_v2_stride_two_same_padding(mobilenet_v2, cat_photo, position):
    results = [conv_by_hand(mobilenet_v2, cat_photo, position=position, channel=c) for c in (0, 1, 6)]
    for r in results:
        assert r.layer == "Conv1" and r.stride == (2, 2) and r.padding == "same"
        assert r.activation == "linear" and r.by_hand == pytest.approx(r.pre_activation, abs=1e-6)
        assert abs(r.by_hand - r.layer_value) <= 1e-4, (r.by_hand, r.layer_value)
        assert r.after_layer == "Conv1_relu" and 0.0 <= r.after <= 6.0  # after batch norm and ReLU6
        assert np.abs(r.patch).max() <= 1.0  # 'tf' preprocessing: pixels in -1..1
    r = results[0]
    if position == (111, 111):  # 224 -> 112 with stride 2: TensorFlow puts the one padding pixel after
        assert r.box == (222, 222, 224, 224) and np.all(r.patch[2] == 0) and np.all(r.patch[:, 2] == 0)
    if position == (0, 0):
        assert r.box == (0, 0, 3, 3) and np.all(r.patch[0] != 0)
    assert len({round(r.layer_value, 6) for r in results}) == 3  # three different kernels, three values


def test_nested_user_classifier_with_valid_padding_and_dilation(cat_photo):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((40, 40, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, dilation_rate=1, padding="valid", activation="relu",
                            bias_initializer="ones", name="stem")(x)
    backbone = keras.Model(inputs, keras.layers.Conv2D(4, 3, dilation_rate=2, name="second")(x), name="backbone")
    pixels = keras.Input((40, 40, 3))
    probs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(backbone(pixels)))
    model = keras.Model(pixels, probs)
    assert first_conv(model).name == "stem"
    r = conv_by_hand(model, cat_photo, position=(4, 7), channel=2)
    assert r.box == (8, 14, 11, 17) and r.bias == 1.0
    assert abs(r.by_hand - r.layer_value) <= 1e-5 and r.layer_value > 0
    r = conv_by_hand(model, cat_photo, position=(3, 3), layer="second")
    assert r.box == (3, 3, 8, 8)  # a dilated 3x3 kernel spans 5 positions
    assert abs(r.by_hand - r.layer_value) <= 1e-5


def test_bad_positions_and_channels_are_refused(vgg16, cat_photo):
    with pytest.raises(ValueError, match="outside"):
        conv_by_hand(vgg16, cat_photo, position=(224, 0))
    with pytest.raises(ValueError, match="channel"):
        conv_by_hand(vgg16, cat_photo, channel=64)
    with pytest.raises(ValueError, match="not a Conv2D"):
        conv_by_hand(vgg16, cat_photo, layer="block1_pool")
