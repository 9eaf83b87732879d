"""Feature maps: right layers and shapes, one cached multi-output pass, the same numbers as a per-layer model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import explorer
from explorer.inspect import features
from explorer.inspect.features import (
    activation_of,
    channel_grid,
    conv_layers,
    feature_maps_and_predictions,
    layer_shapes,
)
from explorer.models.classifier import view
from explorer.runtime import WeakCache

VGG16_CONVS = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1", "block3_conv2",
               "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3", "block5_conv1", "block5_conv2",
               "block5_conv3"]


@pytest.fixture(scope="module")
def vgg16():
    return explorer.load_model("vgg16", weights=None)


@pytest.fixture(scope="module")
def photo():
    from explorer.data.samples import sample_image

    return sample_image("Cat (Chelsea)")


def test_vgg16_every_conv_layer_in_order_with_its_shape(vgg16, photo):
    maps = explorer.feature_maps(vgg16, photo)
    assert list(maps) == VGG16_CONVS
    assert maps["block1_conv1"].shape == (224, 224, 64)
    assert maps["block5_conv3"].shape == (14, 14, 512)
    assert all(m.dtype == np.float32 for m in maps.values())
    assert all(m.min() >= 0 for m in maps.values())  # VGG convolutions include their ReLU
    assert [s[1:] for s in layer_shapes(vgg16)] == [m.shape for m in maps.values()]


def test_one_cached_multi_output_model_per_model_and_layers(vgg16, photo):
    explorer.feature_maps(vgg16, photo, ["block1_conv1", "block5_conv3"])
    ext = features.extractor(vgg16, ["block1_conv1", "block5_conv3"])
    assert features.extractor(vgg16, ("block1_conv1", "block5_conv3")) is ext  # built once, reused
    # one model: both maps and the predictions come out of the same graph
    assert len(ext.model.outputs) == 3 and ext.has_top
    assert isinstance(features._EXTRACTORS, WeakCache)  # weak: a model that goes away takes it along


def test_matches_a_separate_model_per_layer_and_the_model_prediction(mobilenet_small, cat_photo):
    names = ["conv1", "conv_pw_5", "conv_pw_13"]
    maps, probs = feature_maps_and_predictions(mobilenet_small, cat_photo, names)
    x = view(mobilenet_small, cat_photo)  # the app's one geometry, as explorer.predict sees the photo
    for name in names:
        single = keras.Model(mobilenet_small.inputs[0], mobilenet_small.get_layer(name).output)
        np.testing.assert_allclose(maps[name], single(x)[0].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probs, mobilenet_small(x)[0].numpy(), rtol=1e-4, atol=1e-5)
    assert probs.shape == (1000,)


def test_predictions_from_the_same_pass_see_the_cat(mobilenet_v2, cat_photo):
    maps, probs = feature_maps_and_predictions(mobilenet_v2, cat_photo, ["Conv1", "Conv_1"])
    assert maps["Conv1"].shape == (112, 112, 32) and maps["Conv_1"].shape == (7, 7, 1280)
    assert explorer.decode(probs, top=1)[0][1] == "Egyptian cat"


def test_any_image_size_is_centre_cropped_to_the_input(mobilenet_small, cat_photo):
    wide = np.concatenate([cat_photo, cat_photo], axis=1)  # twice as wide: crop changes the content
    a = explorer.feature_maps(mobilenet_small, wide, "conv1")["conv1"]
    height = wide.shape[0]
    left = (wide.shape[1] - height) // 2
    b = explorer.feature_maps(mobilenet_small, wide[:, left:left + height], "conv1")["conv1"]  # the centre square
    assert a.shape == (64, 64, 8)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_mobilenet_conv_layers_and_their_activations(mobilenet_small):
    names = conv_layers(mobilenet_small)
    assert names[:3] == ["conv1", "conv_dw_1", "conv_pw_1"] and names[-1] == "conv_preds"
    assert len(names) == 28  # 1 + 13 depthwise + 13 pointwise + the 1x1 classifier
    assert activation_of(mobilenet_small, "conv1") == "conv1_relu"  # conv -> BN -> ReLU
    assert activation_of(mobilenet_small, "conv_dw_1") == "conv_dw_1_relu"
    after = features.conv_activations(mobilenet_small)
    assert list(after) == names and after["conv_pw_13"] == "conv_pw_13_relu"
    assert after["conv_preds"] == "conv_preds"  # the 1x1 classifier is followed by a reshape
    relu = explorer.feature_maps(mobilenet_small, np.zeros((50, 50, 3), np.uint8), "conv_pw_1_relu")["conv_pw_1_relu"]
    assert relu.min() >= 0 and relu.max() <= 6  # ReLU6


def test_activation_of_a_vgg_conv_is_itself(vgg16):
    assert activation_of(vgg16, "block3_conv2") == "block3_conv2"


def test_user_model_with_a_nested_base_is_opened_up(mobilenet_small, cat_photo):
    base = explorer.load_model("mobilenet", alpha=0.25, input_shape=(128, 128, 3), include_top=False)
    user = keras.Sequential([keras.Input((128, 128, 3)), base, keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(3, activation="softmax")])
    maps, probs = feature_maps_and_predictions(user, cat_photo)
    assert list(maps) == conv_layers(base) and len(maps) == 27
    direct = explorer.feature_maps(mobilenet_small, cat_photo, "conv_pw_13")["conv_pw_13"]
    np.testing.assert_allclose(maps["conv_pw_13"], direct, rtol=1e-4, atol=1e-4)  # same ImageNet weights
    np.testing.assert_allclose(probs, user(view(user, cat_photo))[0].numpy(), atol=1e-5)


def test_bad_layer_names_raise_clearly(mobilenet_small):
    with pytest.raises(ValueError, match="no layer"):
        explorer.feature_maps(mobilenet_small, np.zeros((10, 10, 3), np.uint8), ["nope"])
    with pytest.raises(ValueError, match="not feature maps"):
        explorer.feature_maps(mobilenet_small, np.zeros((10, 10, 3), np.uint8), ["predictions"])
    with pytest.raises(explorer.ImageError):
        explorer.feature_maps(mobilenet_small, b"not an image")


def test_grid_sorts_strongest_first_and_switches_colour_scales():
    fmap = np.zeros((4, 6, 3), np.float32)
    fmap[..., 0] = np.linspace(0, 1, 24).reshape(4, 6)  # weak
    fmap[..., 1] = np.linspace(0, 10, 24).reshape(4, 6)  # strong
    fmap[..., 2] = 4.0  # medium, flat
    shared = channel_grid(fmap, "shared", columns=3)
    assert list(shared.order) == [1, 2, 0]
    assert shared.image.shape == (4, 3 * 6 + 2) and shared.image.dtype == np.uint8
    tiles = [shared.image[:, i * 7:i * 7 + 6] for i in range(3)]
    assert tiles[0].max() == 255 and tiles[2].max() <= 26  # shared scale: the weak channel stays dark
    assert np.all(shared.image[:, 6] == 0)  # padding
    local = channel_grid(fmap, "channel", columns=3)
    tiles = [local.image[:, i * 7:i * 7 + 6] for i in range(3)]
    assert tiles[0].max() == 255 and tiles[2].max() == 255 and tiles[2].min() == 0  # each stretched
    assert tiles[1].max() == 0  # a flat channel has no pattern to stretch
    assert shared.channel_at(0, 0) == 1 and shared.channel_at(15, 3) == 0
    assert shared.channel_at(6, 0) is None and shared.channel_at(100, 0) is None
    rgb = shared.to_rgb()
    assert rgb.shape == (4, 20, 3) and rgb.dtype == np.uint8
    assert np.all(rgb[:, 6] == 255) and not np.all(rgb[:, 5] == 255)  # white padding, coloured tiles


def test_unused_tiles_are_background():
    grid = channel_grid(np.ones((2, 2, 3), np.float32), columns=2)  # 2x2 tiles, 3 used
    rgb = grid.to_rgb(background=(1, 2, 3))
    assert rgb.shape == (5, 5, 3)
    assert np.all(rgb[3:, 3:] == (1, 2, 3)) and not np.all(rgb[3:, :2] == (1, 2, 3))


def test_grid_survives_nans_infinities_and_constant_maps():
    fmap = np.ones((5, 5, 4), np.float32)
    fmap[0, 0, 0], fmap[1, 1, 1], fmap[2, 2, 2] = np.nan, np.inf, -np.inf
    for scale in ("shared", "channel"):
        grid = channel_grid(fmap, scale)
        assert grid.image.dtype == np.uint8 and grid.rows * grid.cols >= 4
    flat = channel_grid(np.zeros((3, 3, 2), np.float32), "channel")
    assert flat.image.max() == 0


def test_grid_layout_is_near_square_and_can_be_capped():
    layouts = {c: channel_grid(np.zeros((14, 14, c), np.float32)) for c in (1, 32, 64, 512, 1280)}
    assert {c: (g.rows, g.cols) for c, g in layouts.items()} == {
        1: (1, 1), 32: (4, 8), 64: (8, 8), 512: (16, 32), 1280: (32, 40)}  # no empty tiles
    seven = channel_grid(np.zeros((14, 14, 7), np.float32))
    assert (seven.rows, seven.cols) == (2, 4)  # a prime count: one empty tile
    top = channel_grid(np.random.default_rng(0).random((14, 14, 512), dtype=np.float32), max_channels=16)
    assert len(top.order) == 16 and (top.rows, top.cols) == (4, 4)
