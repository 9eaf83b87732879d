"""Ideal class images (explorer.optvis): objectives, parameterisations, transforms and the compiled loop.

Most tests use a tiny random conv classifier (traces and runs in a second or two); one uses the real
MobileNet 0.25/128 ImageNet classifier. The full-size quality targets live in bench/optvis.py.
"""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import explorer
from explorer import optvis
from explorer.optvis import transform
from tests.conftest import needs_fixtures

SIZE = 32
PLAIN = dict(param="pixels", optimizer="sgd", ce_weight=1.0, tv_weight=0.0, l2_weight=0.0, jitter=0, scale=0,
             rotation=0)
LR = 3000.0  # the tiny net's pixel gradients are small: big plain steps


@pytest.fixture(scope="module")
def tiny(tiny_classifier):
    """A random conv classifier taking 0..255 pixels, 10 classes, like a user-trained model."""
    return tiny_classifier([f"c{i}" for i in range(10)], size=SIZE, seed=1)


def test_target_probability_rises_monotonically_with_plain_gradient_steps(tiny):
    result = explorer.ideal_image(tiny, 3, steps=30, learning_rate=LR, **PLAIN)
    p = np.array(result.history)
    assert len(p) == 30
    assert np.all(np.diff(p) >= -1e-6), p
    assert p[-1] > 2 * p[0]
    assert result.probability > p[0]
    assert result.image.dtype == np.uint8 and result.image.shape == (SIZE, SIZE, 3)


def test_same_seed_same_image_other_seed_other_image(tiny):
    options = dict(param="fourier", jitter=2, scale=0.1, rotation=10, views=2)
    a = explorer.ideal_image(tiny, 5, steps=8, seed=3, **options)
    b = explorer.ideal_image(tiny, 5, steps=8, seed=3, **options)
    c = explorer.ideal_image(tiny, 5, steps=8, seed=4, **options)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.history == b.history
    assert not np.array_equal(a.image, c.image)


def test_callback_sees_every_step_and_frames_are_kept(tiny):
    calls = []

    def callback(step, image, metrics):
        calls.append((step, image.shape, image.dtype, sorted(metrics)))

    result = explorer.ideal_image(tiny, 1, steps=10, callback=callback, frame_every=4, **PLAIN)
    assert [c[0] for c in calls] == list(range(1, 11))
    assert all(c[1] == (SIZE, SIZE, 3) and c[2] == np.uint8 for c in calls)
    assert calls[0][3] == ["ce", "l2", "loss", "probability", "seconds", "tv"]
    assert [s for s, _ in result.frames] == [0, 4, 8, 10]
    np.testing.assert_array_equal(result.frames[-1][1], result.image)
    assert result.status == "done" and result.steps == 10


def test_callback_returning_false_cancels(tiny):
    result = explorer.ideal_image(tiny, 1, steps=50, callback=lambda step, image, metrics: step < 3, **PLAIN)
    assert result.status == "cancelled"
    assert result.steps == 3 and result.frames[-1][0] == 3


def test_huge_learning_rate_stops_with_a_clear_error_not_a_black_image(tiny):
    with pytest.raises(explorer.Diverged, match="learning rate") as info:
        explorer.ideal_image(tiny, 1, steps=20, param="fourier", learning_rate=1e38, optimizer="sgd")
    partial = info.value.result
    assert partial.image.dtype == np.uint8 and partial.image.std() > 0
    assert len(partial.history) < 20


@pytest.mark.parametrize("bad", [dict(learning_rate=float("nan")), dict(param="jpeg"), dict(optimizer="lbfgs"),
                                 dict(colour=1), dict(tv_weight=-1)])
def test_bad_options_are_refused(tiny, bad):
    with pytest.raises(ValueError):
        explorer.ideal_image(tiny, 1, steps=2, **bad)


def test_bad_target_and_steps_are_refused(tiny):
    with pytest.raises(ValueError, match="0..9"):
        explorer.ideal_image(tiny, 10, steps=2)
    with pytest.raises(ValueError, match="steps"):
        explorer.ideal_image(tiny, 1, steps=0)


def test_total_variation_regulariser_gives_a_smoother_image_than_plain_noise(tiny):
    plain = explorer.ideal_image(tiny, 2, steps=40, preset="plain noise", learning_rate=LR, ce_weight=1.0)
    smooth = explorer.ideal_image(tiny, 2, steps=40, preset="plain noise", learning_rate=LR, ce_weight=1.0,
                                  tv_weight=5e-5)
    assert smooth.options["tv_weight"] == 5e-5 and plain.options["tv_weight"] == 0
    tv = lambda im: float(tf.image.total_variation(tf.constant(im, tf.float32)))  # noqa: E731
    assert tv(smooth.image) < 0.7 * tv(plain.image)


def test_multi_output_models_use_their_main_classifier(tiny):
    two = keras.Model(tiny.inputs, [tiny.outputs[0], tiny.outputs[0][:, ::-1]])
    a = explorer.ideal_image(two, 3, steps=5, learning_rate=LR, **PLAIN)
    b = explorer.ideal_image(tiny, 3, steps=5, learning_rate=LR, **PLAIN)
    np.testing.assert_allclose(a.history, b.history, rtol=1e-5)


def test_objectives_add_and_scale_like_numbers():
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 3)), tf.float32)
    probs = tf.constant([[0.2, 0.8], [0.4, 0.6]])
    ctx = optvis.Context(image=image, views=image, probs=probs)
    ce = -np.mean(np.log([0.8, 0.6]))
    tv = float(tf.image.total_variation(image[0]))
    loss = 10 * optvis.class_ce(1) + 0.005 * optvis.total_variation() - optvis.l2()
    expected = 10 * ce + 0.005 * tv - float(tf.reduce_mean((image / 127.5 - 1) ** 2))
    assert float(loss(ctx)) == pytest.approx(expected, rel=1e-5)
    assert float(optvis.class_probability(0)(ctx)) == pytest.approx(-0.3)
    assert float(optvis.total_variation()(optvis.Context(tf.fill((1, 8, 8, 3), 9.0), image, probs))) == 0
    with pytest.raises(TypeError):
        optvis.class_ce(0) * optvis.l2()


def test_parameterisations_give_valid_images_and_fourier_is_smoother():
    pixels, fourier = optvis.parameterisation("pixels", 40, 48), optvis.parameterisation("fourier", 40, 48)
    a = pixels.to_image(tf.constant(pixels.init(0)))
    b = fourier.to_image(tf.constant(fourier.init(0) * 50))
    for im in (a, b):
        assert im.shape == (1, 40, 48, 3)
        assert float(tf.reduce_min(im)) >= 0 and float(tf.reduce_max(im)) <= 255
    roughness = lambda im: float(tf.image.total_variation(im[0]) / tf.math.reduce_std(im))  # noqa: E731
    assert roughness(b) < 0.7 * roughness(a)
    np.testing.assert_array_equal(pixels.init(7), pixels.init(7))
    with pytest.raises(ValueError):
        optvis.parameterisation("wavelets", 8, 8)


def test_transforms_are_seeded_and_zero_amplitude_is_identity():
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)), tf.float32)
    seed = tf.constant([1, 2])
    same = transform.robust_views(image, 3, tf.constant(0.0), tf.constant(0.0), tf.constant(0.0), seed)
    np.testing.assert_allclose(same, tf.repeat(image, 3, axis=0), atol=1e-3)
    a = transform.robust_views(image, 3, tf.constant(4.0), tf.constant(0.2), tf.constant(20.0), seed)
    b = transform.robust_views(image, 3, tf.constant(4.0), tf.constant(0.2), tf.constant(20.0), seed)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])
    shifted = transform.jitter(image, tf.constant(3.0), seed)
    np.testing.assert_array_equal(np.sort(np.ravel(shifted)), np.sort(np.ravel(image)))


def test_png_and_animated_gif():
    frames = [(i, np.full((8, 8, 3), 30 * i, np.uint8)) for i in range(4)]
    gif = Image.open(io.BytesIO(optvis.gif_bytes(frames, size=16)))
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.size == (16, 16)
    png = Image.open(io.BytesIO(optvis.png_bytes(frames[2][1])))
    np.testing.assert_array_equal(np.asarray(png), frames[2][1])


@needs_fixtures
def test_real_imagenet_model_paints_a_tabby(mobilenet_small):
    # 35 steps landed at p 0.49-0.64 across seeds and oneDNN on/off: too close to 0.5 for another CPU.
    # 60 steps land at 0.74-0.88 (seeds 0-2, oneDNN on and off), well clear of the 0.5 line.
    result = explorer.ideal_image(mobilenet_small, explorer.TABBY, steps=60, seed=0, views=1)
    assert result.image.shape == (128, 128, 3)
    assert result.history[0] < 0.05
    assert result.probability > 0.5, result.history
    assert explorer.decode(optvis.predict(mobilenet_small, result.image), 1)[0][0] == explorer.TABBY


def test_lesson_step_size_follows_the_models_preprocessing(tiny):
    vgg = explorer.load_model("vgg16", weights=None, input_shape=(32, 32, 3), include_top=False)
    mobilenet = explorer.load_model("mobilenet", weights=None, input_shape=(32, 32, 3), include_top=False,
                                    alpha=0.25)
    assert optvis.lesson_learning_rate(vgg) == 1.0 and optvis.lesson_options(vgg)["tv_weight"] == 0.005
    # a step of 1 in the input (pixels / 127.5) is 127.5 pixel levels along a gradient 127.5x smaller
    assert optvis.lesson_learning_rate(mobilenet) == 127.5 ** 2
    assert optvis.lesson_options(mobilenet)["tv_weight"] == pytest.approx(0.005 / 127.5)
    assert optvis.lesson_options(mobilenet)["ce_weight"] == 10.0
    assert optvis.lesson_learning_rate(tiny) == 1.0


@needs_fixtures
def test_the_lesson_recipe_paints_more_than_a_grey_square(mobilenet_small):
    # Issue 23: translated with a learning rate of 127.5 alone, the lesson's TV term flattened the picture
    # to grey (pixel std 2-3, below the starting noise's 20). In the input's units the picture is a bold, noisy
    # one. Measured on MobileNet 0.25 (tabby, 150 steps, seeds 0 and 1, oneDNN on and off): std 36-53 vs
    # 2.45-2.55 the old way. Plain steps this large overshoot: the final p swings (0.03-0.97), so the test
    # asks that the network was convinced along the way (the lesson's own curve jumps the same way).
    options = dict(optvis.lesson_options(mobilenet_small))
    options.pop("steps")
    result = explorer.ideal_image(mobilenet_small, explorer.TABBY, steps=150, seed=0, **options)
    old = explorer.ideal_image(mobilenet_small, explorer.TABBY, steps=150, seed=0,
                               **dict(options, learning_rate=127.5, tv_weight=0.005))
    assert max(result.history) > 0.5
    assert result.image.std() > 20.0 and old.image.std() < 5.0


def test_a_custom_objective_replaces_the_weighted_loss(tiny):
    aim_for_class_0 = optvis.class_ce(0) + 1e-6 * optvis.total_variation()
    result = explorer.ideal_image(tiny, 3, steps=15, learning_rate=LR, objective=aim_for_class_0, **PLAIN)
    probs = optvis.predict(tiny, result.image)
    assert probs[0] > 0.5 and result.history[-1] < result.history[0]  # class 0 went up, the target down


def test_the_step_cache_does_not_keep_discarded_models_alive(tiny):
    import gc
    import weakref

    clone = keras.models.clone_model(tiny)
    explorer.ideal_image(clone, 1, steps=2, **PLAIN)
    ref = weakref.ref(clone)
    del clone
    gc.collect()
    assert ref() is None


# --- objectives over any layer, and diversity (issue 10) ------------------------------------------------

def _layer_names(model):
    return [layer.name for layer in model.layers]


def test_layer_objectives_read_activations_and_compose(tiny):
    conv = "parts"  # the shared tiny classifier's second conv layer
    acts = tf.constant(np.random.default_rng(0).uniform(0, 2, (2, 7, 7, 16)), tf.float32)
    image = tf.fill((1, 8, 8, 3), 9.0)
    ctx = optvis.Context(image=image, views=image, probs=tf.constant([[0.5, 0.5], [0.1, 0.9]]),
                         activations={conv: acts})
    assert float(optvis.channel(conv, 3)(ctx)) == pytest.approx(-float(tf.reduce_mean(acts[..., 3])), rel=1e-6)
    assert float(optvis.neuron(conv, 3)(ctx)) == pytest.approx(-float(tf.reduce_mean(acts[:, 3, 3, 3])), rel=1e-6)
    mixed = 2 * optvis.channel(conv, 3) + optvis.class_ce(1) - 0.5 * optvis.neuron("other", 1)
    assert mixed.layers == {conv, "other"}
    combo = 2 * optvis.channel(conv, 3) + optvis.class_ce(1) - 0.5 * optvis.neuron(conv, 1)
    expected = (-2 * float(tf.reduce_mean(acts[..., 3])) - float(np.mean(np.log([0.5, 0.9])))
                + 0.5 * float(tf.reduce_mean(acts[:, 3, 3, 1])))
    assert float(combo(ctx)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="No activations"):
        mixed(ctx)
    with pytest.raises(TypeError):
        optvis.channel(conv, 0) * optvis.neuron(conv, 0)


def test_a_channel_objective_without_a_target_raises_its_channel(tiny):
    conv = "parts"  # the shared tiny classifier's second conv layer
    result = explorer.ideal_image(tiny, objective=optvis.channel(conv, 5), steps=15, learning_rate=LR, **PLAIN)
    assert result.target is None and result.probability is None
    assert result.history[-1] > result.history[0]  # without a target, history is the objective's score
    with pytest.raises(ValueError, match="target class, an objective"):
        explorer.ideal_image(tiny, steps=2)


def _channel_mean(model, image, layer, index):
    return float(explorer.feature_maps(model, image, layer)[layer][..., index].mean())


@needs_fixtures
@pytest.mark.parametrize("index", [7, 33])
def test_a_channel_image_lights_its_channel_far_above_random_noise(mobilenet_small, index):
    """At the default learning rate (0.05) channel 7 of conv_pw_13_relu reached 5.8-6.0 (ReLU6's top) over
    seeds 0-4, oneDNN on and off, against 0.23 for uniform and 0.04 for grey noise; 5x leaves a wide
    margin. (At 0.1 it reached 4.3-6.0, and with other random views some seeds overshot: every unit of
    the channel went below zero at once, and a dead ReLU gets no gradient back. Some channels of this
    layer are exactly 0 on the starting image: no objective can wake them.)"""
    layer = "conv_pw_13_relu"
    result = explorer.ideal_image(mobilenet_small, objective=optvis.channel(layer, index), steps=40, seed=0)
    painted = _channel_mean(mobilenet_small, result.image, layer, index)
    uniform = [np.random.default_rng(s).integers(0, 256, (128, 128, 3), dtype=np.uint8) for s in range(3)]
    grey = [np.clip(127.5 + 20 * np.random.default_rng(s).standard_normal((128, 128, 3)), 0, 255).astype(np.uint8)
            for s in range(3)]
    for noise in (uniform, grey):
        base = np.mean([_channel_mean(mobilenet_small, x, layer, index) for x in noise])
        print(f"channel {index}: painted {painted:.3f}, noise {base:.3f}, factor {painted / max(base, 1e-9):.1f}")
        assert painted >= 5 * base and painted > 0.5


@needs_fixtures
def test_a_neuron_image_lights_the_centre_unit(mobilenet_small):
    """Measured: the centre unit reaches 4.1 against 0.26 for grey noise (16x)."""
    layer, index = "conv_pw_7_relu", 33
    result = explorer.ideal_image(mobilenet_small, objective=optvis.neuron(layer, index), steps=30,
                                  learning_rate=0.1, seed=0)
    fmap = explorer.feature_maps(mobilenet_small, result.image, layer)[layer]
    h, w = fmap.shape[:2]
    grey = np.clip(127.5 + 20 * np.random.default_rng(0).standard_normal((128, 128, 3)), 0, 255).astype(np.uint8)
    base = explorer.feature_maps(mobilenet_small, grey, layer)[layer][h // 2, w // 2, index]
    assert fmap[h // 2, w // 2, index] > max(5 * base, 1.0)


def test_diversity_paints_several_images_pushed_apart(tiny):
    from explorer.optvis.diverse import similarity

    conv = "edges"  # the shared tiny classifier's first conv layer
    options = dict(PLAIN, learning_rate=LR, images=3, diversity_layer=conv)
    same = explorer.ideal_image(tiny, 2, steps=12, diversity=0.0, **options)
    apart = explorer.ideal_image(tiny, 2, steps=12, diversity=50.0, **options)
    assert len(apart.images) == 3 and all(im.shape == (SIZE, SIZE, 3) and im.dtype == np.uint8 for im in apart.images)
    assert np.array_equal(apart.image, apart.images[0]) and len(apart.history) == 12
    assert similarity(tiny, apart.images, conv) < similarity(tiny, same.images, conv)
    assert apart.probability is not None and same.history[-1] > same.history[0]
    with pytest.raises(ValueError, match="images must be"):
        explorer.ideal_image(tiny, 2, steps=2, images=99)
