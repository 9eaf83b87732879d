"""Blocks: shapes and parameter counts against hand calculation, gradient flow, any input size."""

import numpy as np
import pytest

import explorer
from explorer.models import blocks, googlenet


def test_inception_3a_shapes_and_parameters_by_hand():
    model = blocks.inception_block_model((28, 28, 192), seed=0)
    shapes = {k: tuple(v.shape[1:]) for k, v in model.output.items()}
    assert shapes == {"1x1": (28, 28, 64), "1x1 -> 3x3": (28, 28, 128), "1x1 -> 5x5": (28, 28, 32),
                      "pool -> 1x1": (28, 28, 32), "concatenated": (28, 28, 256)}
    hand = blocks.inception_params(192)
    # k*k*in*out + out per conv, written out: 192*64+64 | 192*96+96 + 9*96*128+128 | ...
    assert hand == {"1x1": 12_352, "1x1 -> 3x3": 18_528 + 110_720, "1x1 -> 5x5": 3_088 + 12_832,
                    "pool -> 1x1": 6_176, "total": 163_696}
    assert model.count_params() == 163_696


def test_one_by_one_reductions_save_parameters():
    naive = blocks.naive_params(192)
    assert naive["single 5x5 conv, 256 channels"] == 25 * 192 * 256 + 256
    assert naive["naive inception (no 1x1 reductions)"] == 12_352 + (9 * 192 * 128 + 128) + (25 * 192 * 32 + 32)
    assert blocks.inception_params(192)["total"] * 7 < naive["single 5x5 conv, 256 channels"]


def test_inception_block_with_extreme_widths():
    model = blocks.inception_block_model((8, 8, 5), filters_1x1=1, filters_3x3_reduce=1, filters_3x3=1,
                                         filters_5x5_reduce=1, filters_5x5=1, filters_pool_proj=1)
    out = model(np.random.default_rng(0).random((1, 8, 8, 5), dtype=np.float32))
    assert out["concatenated"].shape == (1, 8, 8, 4)
    assert model.count_params() == blocks.inception_params(5, 1, 1, 1, 1, 1, 1)["total"]


@pytest.mark.parametrize("kind, in_ch, filters, projection, expected", [
    ("basic", 64, 64, False, 2 * (9 * 64 * 64 + 64) + 2 * 4 * 64),  # 74,368
    ("bottleneck", 64, 64, True, (64 * 64 + 64) + 256 + (9 * 64 * 64 + 64) + 256 + (64 * 256 + 256) + 1024
     + (64 * 256 + 256) + 1024),  # 76,928, ResNet-50's conv2_block1
    ("bottleneck", 256, 64, False, (256 * 64 + 64) + 256 + (9 * 64 * 64 + 64) + 256 + (64 * 256 + 256) + 1024),
])
def test_residual_block_parameters_by_hand(kind, in_ch, filters, projection, expected):
    model = blocks.residual_block_model((16, 16, in_ch), filters, kind, projection=projection)
    assert blocks.residual_params(in_ch, filters, kind, projection)["total"] == expected
    assert model.count_params() == expected


def test_residual_block_adds_the_input_back():
    model = blocks.residual_block_model((12, 12, 16), 16, "basic", seed=0)
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 16)).astype("float32")
    out = {k: np.asarray(v) for k, v in model(x, training=False).items()}
    np.testing.assert_allclose(out["x (shortcut)"], x)
    np.testing.assert_allclose(out["F(x) + x"], out["F(x)"] + x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["relu(F(x) + x)"], np.maximum(out["F(x) + x"], 0), rtol=1e-6)


def test_residual_block_stride_two_needs_a_projection():
    model = blocks.residual_block_model((16, 16, 64), 128, "basic", stride=2)
    assert tuple(model.output["relu(F(x) + x)"].shape[1:]) == (8, 8, 128)
    assert "res_shortcut_conv" in [layer.name for layer in model.layers]
    with pytest.raises(ValueError, match="projection"):
        blocks.residual_block_model((16, 16, 64), 64, "basic", stride=2, projection=False)


def test_inception_resnet_a_parameters_and_scaled_sum():
    hand = blocks.inception_resnet_a_params(320)
    assert hand["total"] == (320 * 32 + 32) * 3 + (9 * 32 * 32 + 32) + (9 * 32 * 48 + 48) + (9 * 48 * 64 + 64) \
        + (128 * 320 + 320)
    model = blocks.inception_resnet_a_model((9, 9, 320), scale=0.25, seed=0)
    assert model.count_params() == hand["total"] == 122_928
    x = np.random.default_rng(1).normal(size=(1, 9, 9, 320)).astype("float32")
    out = {k: np.asarray(v) for k, v in model(x).items()}
    assert out["concatenated"].shape == (1, 9, 9, 128)
    np.testing.assert_allclose(out["relu(x + scale * F(x))"], np.maximum(x + out["F(x): 1x1 linear, scaled"], 0),
                               rtol=1e-5, atol=1e-5)


def test_stems_turn_a_photo_into_block_inputs(cat_photo):
    photo = explorer.load_image(cat_photo, size=224)[None].astype("float32")
    assert googlenet.stem_model().predict(photo, verbose=0).shape == (1, 28, 28, 192)
    assert blocks.stem_model(320, (140, 140, 3)).predict(photo[:, :140, :140], verbose=0).shape == (1, 35, 35, 320)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])  # the two the Residual block page offers
def test_gradients_vanish_in_a_plain_stack_but_stay_within_10x_with_skips(activation):
    share = {}
    for depth in (10, 50):
        plain = blocks.gradient_norms(blocks.plain_stack(depth, activation=activation))
        residual = blocks.gradient_norms(blocks.residual_stack(depth, activation=activation))
        assert len(plain) == len(residual) == depth + 1  # stem + one per block
        # ResNet's recipe: within 10x of the output gradient at every layer, at every depth.
        ratio = residual / residual[-1]
        assert ratio.max() < 10 and ratio.min() > 0.1, ratio
        share[depth] = plain[0] / plain[-1]
    # The plain stack's gradient vanishes, and more so the deeper it is (measured: relu 2e-2 at 10
    # layers, 1e-8 at 50; sigmoid 7e-7 at 10, 0 at 50).
    assert share[50] < 1e-4 and share[50] <= share[10] < 0.2


def test_batch_norm_alone_stops_vanishing_but_relu_gradients_then_grow():
    """What ResNet's recipe does without the skips (the page's third curve): no vanishing, but with
    ReLU the gradient grows with depth (measured: 8,900x at 50 layers; sigmoid stays within 2x)."""
    relu = blocks.gradient_norms(blocks.plain_stack(50, activation="relu", normalised=True))
    sigmoid = blocks.gradient_norms(blocks.plain_stack(50, activation="sigmoid", normalised=True))
    assert relu[0] / relu[-1] > 100
    assert 0.1 < sigmoid[0] / sigmoid[-1] < 10
    kernels = blocks.gradient_norms(blocks.plain_stack(20), wrt="kernels")
    assert len(kernels) == 21 and kernels[0] < 1e-4 * kernels[-1]


def test_replay_runs_a_model_layer_by_layer_from_its_public_config():
    model = blocks.residual_block_model((8, 8, 16), 16, seed=0)
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 16)).astype("float32")
    tensors = blocks.replay(model, x)
    np.testing.assert_allclose(np.asarray(tensors["res_out"]), np.asarray(model(x)["relu(F(x) + x)"]),
                               rtol=1e-5, atol=1e-5)


def test_global_average_pooling_takes_any_input_size():
    shapes = blocks.gap_demo(blocks.residual_stack(3, input_shape=(None, None, 3)), sizes=((32, 32), (48, 80)))
    assert list(shapes.values()) == [(1, 10), (1, 10)]
    resnet = explorer.load_model("resnet50", weights=None, include_top=False, pooling="avg")
    shapes = blocks.gap_demo(resnet, sizes=((64, 64), (96, 160)))
    assert list(shapes.values()) == [(1, 2048), (1, 2048)]


# --- the pages' computations (explorer.inspect.blocks): numbers in, arrays out -----------------------

def test_inception_page_computations_on_a_photo():
    from explorer.inspect import blocks as lesson

    photo = np.random.default_rng(0).integers(0, 256, (180, 300, 3), dtype=np.uint8)
    square = lesson.square_photo(photo, 224)
    assert square.shape == (224, 224, 3) and square.dtype == np.uint8
    features = lesson.inception_stem(photo)
    assert features.shape == (1, 28, 28, 192)
    outputs = lesson.inception_outputs(blocks.INCEPTION_3A, features)
    assert {k: v.shape[1:] for k, v in outputs.items()} == {
        "1x1": (28, 28, 64), "1x1 -> 3x3": (28, 28, 128), "1x1 -> 5x5": (28, 28, 32), "pool -> 1x1": (28, 28, 32),
        "concatenated": (28, 28, 256)}
    counts = lesson.inception_parameters(blocks.INCEPTION_3A)
    assert counts["by_hand"]["total"] == counts["keras"] == 163_696
    assert lesson.inception_stem(photo.copy()).tolist() == features.tolist()  # seeded: same photo, same maps


def test_googlenet_heads_and_their_summed_loss():
    from explorer.inspect import blocks as lesson

    model = explorer.load_model("googlenet", weights=None)
    photo = np.random.default_rng(1).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    heads, total, parts = lesson.googlenet_heads(model, photo, explorer.TABBY)
    assert len(heads) == 3 and all(h.shape == (1, 1000) for h in heads)
    assert total == pytest.approx(parts["main"] + lesson.AUX_WEIGHT * (parts["aux1"] + parts["aux2"]), rel=1e-5)


def test_residual_page_computations_on_a_photo():
    from explorer.inspect import blocks as lesson

    photo = np.random.default_rng(2).integers(0, 256, (200, 260, 3), dtype=np.uint8)
    t = lesson.residual_outputs(64, 64, "basic", 1, False, photo)
    assert t["x"].shape == (1, 56, 56, 64) and t["relu(F(x) + x)"].shape == (1, 56, 56, 64)
    np.testing.assert_allclose(t["F(x) + x"], t["F(x)"] + t["x (shortcut)"], rtol=1e-5, atol=1e-5)
    counts = lesson.residual_parameters(64, 64, "basic", 1, False)
    assert counts["total"] == counts["keras"] and counts["shortcut"] == 0
    ir = lesson.inception_resnet_outputs(0.17, photo)
    assert ir["x"].shape == (1, 35, 35, 320) and ir["relu(x + scale * F(x))"].shape == (1, 35, 35, 320)
    ir_counts = lesson.inception_resnet_parameters(0.17)
    assert ir_counts["total"] == ir_counts["keras"]
    flow = lesson.gradient_flow(4, "relu")
    assert set(flow) == {"plain", "plain + batch norm", "residual"} and all(len(v) == 5 for v in flow.values())
    rows = lesson.pooled_shapes(blocks.stem_model(8, (None, None, 3)), photo, [(64, 64), (64, 96)])
    assert [r[0] for r in rows] == [(64, 64), (64, 96)] and rows[0][2] == rows[1][2] == (1, 8)
