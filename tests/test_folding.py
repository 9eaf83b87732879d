"""Batch norm folded into the convolution before it (explorer.folding): the same function, fewer ops.

The offline MobileNet weights have their batch norms folded already (each is the identity plus a bias),
so folding them proves nothing: these tests give every batch norm random, far-from-identity statistics.
"""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import explorer
from explorer.models import folding


def _randomise_batch_norms(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2.0, n), rng.normal(0, 0.5, n), rng.normal(0, 0.5, n),
                               rng.uniform(0.2, 3.0, n)])
    return model


def _count(model, kind):
    return sum(isinstance(layer, kind) for layer in model.layers)


@pytest.fixture(scope="module")
def mixed():
    """Conv (no bias) + BN, depthwise + BN, conv with bias + BN, and two pairs that must not fold: a conv
    whose output is read twice, and a BN after a pooling layer. Paddings: MobileNet's (0, 1) before a
    stride-2 conv folds into it; (1, 1) is not what "same" would pad, so it stays."""
    keras.utils.set_random_seed(3)
    pixels = keras.Input((24, 24, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(pixels)
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name="conv_pad")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, use_bias=False, name="conv")(x)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = keras.layers.BatchNormalization(name="dw_bn")(x)
    shared = keras.layers.Conv2D(16, 1, name="shared")(x)
    y = keras.layers.BatchNormalization(name="shared_bn")(shared)
    x = keras.layers.Add()([shared, y])  # "shared" is read twice: folding its BN would change the sum
    x = keras.layers.ZeroPadding2D(1, name="odd_pad")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, use_bias=True, name="biased")(x)
    x = keras.layers.BatchNormalization(name="biased_bn")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.BatchNormalization(name="pool_bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax", name="predictions")(x)
    return _randomise_batch_norms(keras.Model(pixels, out))


def _inputs(shape, n=3, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (n,) + tuple(shape)).astype(np.float32)


def test_foldable_pairs_are_exactly_the_convolutions_only_their_batch_norm_reads(mixed):
    pairs = folding.foldable_pairs(mixed)
    assert {conv: bn.name for conv, bn in pairs.items()} == {"conv": "conv_bn", "dw": "dw_bn", "biased": "biased_bn"}
    assert {conv: pad.name for conv, pad in folding.foldable_paddings(mixed).items()} == {"conv": "conv_pad"}


def test_folded_model_computes_the_same_outputs_and_input_gradients(mixed):
    copy = folding.fold_batch_norm(mixed)
    assert _count(copy, keras.layers.BatchNormalization) == 2  # shared_bn and pool_bn stay
    assert _count(copy, folding.Folded) == 4  # three batch norms and one padding
    assert _count(copy, keras.layers.ZeroPadding2D) == 1 and copy.get_layer("conv").padding == "same"
    x = tf.constant(_inputs((24, 24, 3)))
    a, b = mixed(x, training=False).numpy(), copy(x, training=False).numpy()
    assert not np.allclose(a, a[:1])  # the probe tells inputs apart
    np.testing.assert_allclose(b, a, atol=1e-5)

    def input_gradient(model):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = -tf.reduce_sum(tf.math.log(model(x, training=False)[:, 2]))
        return tape.gradient(loss, x).numpy()

    g, h = input_gradient(mixed), input_gradient(copy)
    np.testing.assert_allclose(h, g, atol=1e-5 * np.abs(g).max())
    assert np.abs(g).max() > 0


def test_the_model_itself_is_never_changed(mixed):
    before = [w.copy() for w in mixed.get_weights()]
    folding.fold_batch_norm(mixed)
    for old, new in zip(before, mixed.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert _count(mixed, keras.layers.BatchNormalization) == 5


def test_mobilenet_v2_folds_all_52_batch_norms_and_4_paddings_and_keeps_its_answers():
    model = _randomise_batch_norms(explorer.load_model("mobilenet_v2", weights=None, input_shape=(96, 96, 3),
                                                       classes=7), seed=2)
    assert _count(model, keras.layers.BatchNormalization) == 52
    copy = folding.folded(model)
    assert copy is not model and _count(copy, keras.layers.BatchNormalization) == 0
    assert _count(model, keras.layers.ZeroPadding2D) == 4 and _count(copy, keras.layers.ZeroPadding2D) == 0
    x = _inputs((96, 96, 3))
    a, b = model(x, training=False).numpy(), copy(x, training=False).numpy()
    np.testing.assert_allclose(b, a, atol=1e-5)
    np.testing.assert_array_equal(b.argmax(1), a.argmax(1))
    assert folding.folded(model) is copy  # built once per model


def test_a_model_without_batch_norm_is_its_own_folded_copy_and_nothing_is_kept_alive(tiny_classifier):
    model = tiny_classifier(4, size=16, seed=0)
    assert folding.folded(model) is model
    with_bn = _randomise_batch_norms(explorer.load_model("mobilenet", weights=None, input_shape=(32, 32, 3),
                                                         alpha=0.25, classes=3))
    copy_ref = weakref.ref(folding.folded(with_bn))
    refs = [weakref.ref(model), weakref.ref(with_bn)]
    del model, with_bn
    gc.collect()
    gc.collect()  # the copy is let go when the model is collected: a second pass frees its own cycles
    assert [ref() is None for ref in refs + [copy_ref]] == [True, True, True]


def test_a_copy_that_does_not_match_is_not_used(mixed, monkeypatch):
    def wrong(model):  # a fold gone wrong: the same graph with other weights
        copy = keras.models.clone_model(model)
        copy.set_weights([w + 0.5 for w in model.get_weights()])
        return copy

    fresh = keras.models.clone_model(mixed)
    fresh.set_weights(mixed.get_weights())
    monkeypatch.setattr(folding, "fold_batch_norm", wrong)
    assert folding.folded(fresh) is fresh


def test_the_ideal_image_step_runs_on_the_folded_copy_and_paints_the_same_picture(mixed, monkeypatch):
    from explorer.optvis import activations

    assert activations.network_for(mixed, ()) is folding.folded(mixed)
    options = dict(steps=8, seed=0, jitter=2, scale=0.1, rotation=5)
    folded_run = explorer.ideal_image(mixed, 2, **options)
    unfolded = keras.models.clone_model(mixed)  # another model object: its own compiled step
    unfolded.set_weights(mixed.get_weights())
    monkeypatch.setattr(activations, "folded", lambda model: model)
    plain_run = explorer.ideal_image(unfolded, 2, **options)
    assert activations.network_for(unfolded, ()) is unfolded
    difference = np.abs(folded_run.image.astype(int) - plain_run.image.astype(int))
    assert difference.max() <= 2 and difference.mean() < 0.05, (difference.max(), difference.mean())
    np.testing.assert_allclose(folded_run.history, plain_run.history, atol=1e-4)
