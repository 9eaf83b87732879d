"""Adversarial examples: real attacks on real photos, budgets that hold after uint8 rounding."""

import keras
import numpy as np
import pytest

import explorer
from explorer.attacks import single as attacks, verdicts
from explorer.models.classifier import clone, describe
from tests.conftest import needs_fixtures


@pytest.fixture(scope="module")
def tiny(tiny_classifier):
    """A 5-class classifier on 16x16 pixels with random weights, named like a user-trained model."""
    return tiny_classifier(["apple", "bear", "cat", "dog", "eel"], size=16)


@pytest.fixture(scope="module")
def odd_photo():
    """A 37x23 photo with saturated corners (pixels at 0 and 255 must stay valid)."""
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)
    photo[:5, :5] = 0
    photo[-5:, -5:] = 255
    return photo


@needs_fixtures
@pytest.mark.slow
def test_pgd_fools_mobilenet_v2_by_one_pixel_level(mobilenet_v2, dog_photo):
    before = explorer.decode(attacks.predict(mobilenet_v2, dog_photo), top=1)[0]
    assert explorer.is_dog(before[0]), before
    result = explorer.adversarial(mobilenet_v2, dog_photo, explorer.TABBY, epsilon=1, steps=20, method="pgd",
                                  confidence=0.0)
    assert result.success and result.steps <= 20
    assert result.image.dtype == np.uint8 and result.image.shape == dog_photo.shape
    assert result.linf == 1.0 and np.abs(result.perturbation).max() == 1
    # a fresh forward pass of the saved uint8 photo: the dog is now a tabby cat
    probs = attacks.predict(mobilenet_v2, result.image)
    assert int(np.argmax(probs)) == explorer.TABBY
    assert probs[explorer.TABBY] == pytest.approx(result.history[-1], abs=0.02)
    assert result.history[-1] > 100 * result.history[0]
    assert result.l2 == pytest.approx(np.sqrt((result.perturbation.astype(float) ** 2).sum()))


@needs_fixtures
@pytest.mark.parametrize("name", ["cat", "dog", "parrot"])
def test_the_default_attack_makes_the_network_sure_within_two_levels(mobilenet_v2, fixture_images, name):
    """Issue 9: the default attack (the page's defaults too) stops only when p(target) >= 0.9, at <= 2 levels.
    Measured (MobileNetV2 -> tabby, oneDNN on and off): cat 2 steps p 0.99, dog 5 steps 0.95-0.96,
    parrot 4 steps 0.99; the default allows 40."""
    assert attacks.DEFAULTS["epsilon"] <= 2 and attacks.DEFAULTS["confidence"] >= 0.9
    photo = explorer.load_image(fixture_images / f"{name}.jpg")
    assert int(np.argmax(attacks.predict(mobilenet_v2, photo))) != explorer.TABBY
    result = explorer.adversarial(mobilenet_v2, photo, "tabby")  # nothing but the defaults
    assert result.success and result.epsilon == attacks.DEFAULTS["epsilon"] and result.linf <= 2
    assert result.steps < attacks.DEFAULTS["steps"]  # stopped early, once sure
    probs = attacks.predict(mobilenet_v2, result.image)  # the saved uint8 photo, scored afresh
    assert int(np.argmax(probs)) == explorer.TABBY and probs[explorer.TABBY] >= 0.9


@needs_fixtures
def test_target_probability_rises_monotonically(mobilenet_small, dog_photo):
    result = explorer.adversarial(mobilenet_small, dog_photo, "Siamese cat", epsilon=2, steps=30, confidence=0.9)
    history = np.array(result.history)
    assert result.success and history[-1] >= 0.9
    assert np.all(np.diff(history) > -0.01), history
    assert np.all(np.diff(result.losses) < 0.05), result.losses


@needs_fixtures
@pytest.mark.parametrize("epsilon, enforced", [(0, 0), (1, 1), (2.7, 2), (255, 255), (1e9, 255)])
def test_epsilon_holds_exactly_after_uint8_rounding(mobilenet_small, odd_photo, epsilon, enforced):
    result = explorer.adversarial(mobilenet_small, odd_photo, explorer.TABBY, epsilon=epsilon, steps=3,
                                  method="lesson", step_size=1e6, confidence=1.0)
    change = result.image.astype(int) - odd_photo.astype(int)
    assert result.epsilon == enforced
    assert np.abs(change).max() <= enforced and result.linf == np.abs(change).max()
    if enforced:
        assert result.linf == enforced  # the huge learning rate uses the whole budget
        assert np.all(change[:5, :5] >= 0) and np.all(change[-5:, -5:] <= 0)  # stays inside 0..255
    else:
        assert np.array_equal(result.image, odd_photo)


@needs_fixtures
def test_stops_early_once_the_target_wins(mobilenet_small, cat_photo):
    frames = []
    result = explorer.adversarial(mobilenet_small, cat_photo, "tiger cat", epsilon=1, steps=200, confidence=0.0,
                                  callback=lambda step, image, metrics: frames.append((step, image, metrics)))
    assert result.success and 0 < result.steps < 10
    assert [f[0] for f in frames] == list(range(result.steps + 1))
    probs = [f[2]["probability"] for f in frames]
    assert probs == result.history
    assert [f[2]["top_class"] == 282 for f in frames] == [False] * result.steps + [True]
    for step, image, metrics in frames:
        assert image.shape == cat_photo.shape and image.dtype == np.uint8
        assert metrics["linf"] == np.abs(image.astype(int) - cat_photo).max() <= 1
    assert np.array_equal(frames[0][1], cat_photo) and np.array_equal(frames[-1][1], result.image)


@needs_fixtures
def test_asking_for_confidence_takes_more_steps(mobilenet_small, dog_photo):
    quick = explorer.adversarial(mobilenet_small, dog_photo, explorer.TABBY, epsilon=2, steps=60, confidence=0.0)
    sure = explorer.adversarial(mobilenet_small, dog_photo, explorer.TABBY, epsilon=2, steps=60, confidence=0.8)
    assert quick.success and sure.success
    assert sure.steps > quick.steps and sure.history[-1] >= 0.8 > quick.history[-1]


@needs_fixtures
def test_runs_are_deterministic(mobilenet_small, dog_photo):
    first = explorer.adversarial(mobilenet_small, dog_photo, explorer.TABBY, epsilon=2, steps=5, confidence=1.0)
    second = explorer.adversarial(mobilenet_small, dog_photo, explorer.TABBY, epsilon=2, steps=5, confidence=1.0)
    assert np.array_equal(first.image, second.image)
    assert first.history == second.history and first.steps == second.steps == 5


@needs_fixtures
def test_fgsm_takes_exactly_one_step_of_the_whole_budget(mobilenet_small, dog_photo):
    result = explorer.adversarial(mobilenet_small, dog_photo, explorer.TABBY, epsilon=3, steps=50, method="fgsm")
    assert result.steps == 1 and len(result.history) == 2
    change = np.abs(result.perturbation)
    partial = ~np.isin(change, (0, 3))  # only where 0..255 leaves less room than the budget
    assert change.max() == 3 and (change == 3).mean() > 0.5
    assert np.all((dog_photo[partial] < 3) | (dog_photo[partial] > 252))
    assert result.history[1] > result.history[0]


def test_tiny_model_any_size_and_class_names(tiny, odd_photo):
    before = attacks.predict(tiny, odd_photo)
    target = "eel" if int(np.argmax(before)) != 4 else "apple"
    frames = []
    result = explorer.adversarial(tiny, odd_photo, target, epsilon=64, steps=40, confidence=0.0,
                                  callback=lambda *frame: frames.append(frame))
    assert result.image.shape == odd_photo.shape == result.original.shape
    assert result.target == explorer.class_names_of(tiny).index(target)
    assert result.success and result.linf <= 64
    assert len(frames) == len(result.history) == result.steps + 1
    assert result.history[-1] > result.history[0]


def test_multi_output_models_use_the_main_head(odd_photo):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    main = keras.layers.Dense(4, activation="softmax", name="main")(x)
    aux = keras.layers.Dense(4, activation="softmax", name="aux")(x)
    model = keras.Model(inputs, [main, aux])
    result = explorer.adversarial(model, odd_photo, 2, epsilon=8, steps=2)
    assert result.probs_after.shape == (4,) and len(result.history) >= 1


def test_bad_input_gives_clear_errors(tiny, odd_photo):
    with pytest.raises(ValueError, match="Unknown method"):
        explorer.adversarial(tiny, odd_photo, 0, method="deepfool")
    with pytest.raises(ValueError, match="0..4"):
        explorer.adversarial(tiny, odd_photo, 7)
    with pytest.raises(ValueError, match="no class named"):
        explorer.adversarial(tiny, odd_photo, "zebra")
    with pytest.raises(ValueError, match="epsilon"):
        explorer.adversarial(tiny, odd_photo, 0, epsilon=float("nan"))
    with pytest.raises(ValueError, match="steps"):
        explorer.adversarial(tiny, odd_photo, 0, steps=-1)
    nan_photo = odd_photo.astype(float)
    nan_photo[0, 0, 0] = np.nan
    with pytest.raises(explorer.ImageError, match="NaN"):
        explorer.adversarial(tiny, nan_photo, 0)
    with pytest.raises(explorer.ImageError, match="HxWx3"):
        explorer.adversarial(tiny, odd_photo[..., 0], 0)


def test_model_view_crops_the_centre_and_keeps_the_right_size():
    photo = np.zeros((1, 100, 200, 3), np.float32)
    photo[:, :, 50:150] = 200.0  # the centre square is bright, the sides dark
    view = attacks.model_view(photo, (32, 32)).numpy()
    assert view.shape == (1, 32, 32, 3) and np.allclose(view, 200.0, atol=1e-3)
    same = np.random.default_rng(0).uniform(0, 255, (1, 24, 24, 3)).astype(np.float32)
    assert np.allclose(attacks.model_view(same, (24, 24)).numpy(), same, atol=1e-3)


def test_amplify_and_shrink():
    change = np.zeros((4, 4, 3), np.int16)
    change[0, 0, 0], change[1, 1, 1] = 1, -1
    picture, factor = attacks.amplify(change)
    assert factor == 127 and picture[0, 0, 0] == 255 and picture[1, 1, 1] == 1 and picture[2, 2, 2] == 128
    assert attacks.amplify(np.zeros((2, 2, 3)))[1] == 1.0
    big = np.zeros((300, 1200, 3), np.uint8)
    assert attacks.shrink(big, 600).shape == (150, 600, 3) and attacks.shrink(big, 2000) is big


@needs_fixtures
def test_transfer_check_on_a_second_network(mobilenet_v2, mobilenet_small, tiny, cat_photo):
    check = verdicts.check_transfer(mobilenet_small, cat_photo, cat_photo, "tiger cat")
    assert check.known and check.target == 282
    assert check.probability_before == check.probability_after
    assert check.top_before[1] in {explorer.class_name(i) for i in explorer.CAT_CLASSES}
    assert check.fooled == (check.top_after[0] == 282)
    unknown = verdicts.check_transfer(tiny, cat_photo, cat_photo, "tiger cat")
    assert not unknown.known and not unknown.fooled and unknown.probability_after is None


# --- ensembles and the epsilon sweep (issue 10) ---------------------------------------------------------

@needs_fixtures
def test_a_single_model_reports_itself_as_the_one_model(mobilenet_small, dog_photo):
    result = explorer.adversarial(mobilenet_small, dog_photo, explorer.TABBY, epsilon=2, steps=3)
    assert result.targets == [explorer.TABBY] and len(result.per_model_after) == 1
    assert result.per_model_after[0] is result.probs_after and result.per_model_before[0] is result.probs_before


@needs_fixtures
def test_an_ensemble_attack_fools_every_model_at_its_own_input_size(mobilenet_small, mobilenet_v2, dog_photo):
    frames = []
    result = explorer.adversarial([mobilenet_small, mobilenet_v2], dog_photo, "tabby", epsilon=2, steps=30,
                                  confidence=0.0, callback=lambda step, image, metrics: frames.append(metrics))
    assert result.success and result.target == explorer.TABBY and result.targets == [explorer.TABBY] * 2
    assert result.linf <= 2 and result.image.shape == dog_photo.shape
    assert len(result.per_model_after) == 2 and all(p.shape == (1000,) for p in result.per_model_after)
    # judged afresh, each at its own input size (128 and 224): both see a tabby now, neither did before
    for model, before, after in zip((mobilenet_small, mobilenet_v2), result.per_model_before, result.per_model_after):
        assert np.allclose(after, attacks.predict(model, result.image), atol=1e-5)
        assert int(np.argmax(after)) == explorer.TABBY != int(np.argmax(before))
    # history is the mean p(target) over the two; the callback sees each
    assert result.history[0] == pytest.approx(np.mean([p[explorer.TABBY] for p in result.per_model_before]), abs=1e-6)
    assert frames[-1]["probability"] == pytest.approx(np.mean(frames[-1]["probabilities"]))
    assert result.history[-1] > 10 * result.history[0]


def test_every_model_of_an_ensemble_must_know_the_target(tiny, odd_photo):
    other = describe(clone(tiny), class_names=["apple", "bear", "cat", "dog", "fox"])
    with pytest.raises(ValueError, match="no class named 'eel'"):
        explorer.adversarial([tiny, other], odd_photo, "eel", epsilon=4, steps=2)
    result = explorer.adversarial([tiny, other], odd_photo, "cat", epsilon=64, steps=30)
    assert result.targets == [2, 2] and result.history[-1] > result.history[0]
    with pytest.raises(ValueError, match="at least one"):
        explorer.adversarial([], odd_photo, "cat")


@needs_fixtures
def test_epsilon_sweep_curve_for_one_photo(mobilenet_small, dog_photo):
    points = explorer.epsilon_sweep(mobilenet_small, dog_photo, explorer.TABBY, epsilons=(0, 1, 4), steps=10,
                                     confidence=0.0)
    assert [p.epsilon for p in points] == [0, 1, 4]
    assert not points[0].success and points[0].steps == 0 and points[-1].success
    probs = [p.probability for p in points]
    assert probs[0] < 0.01 and probs == sorted(probs) and probs[-1] > 0.2
    from explorer.attacks.sweep import success_rate

    assert success_rate(points) == pytest.approx(sum(p.success for p in points) / 3)


def test_the_curves_log_axis_is_labelled_in_plain_words():
    from explorer.plain_numbers import probability_ticks

    values, labels = probability_ticks(1.2e-6)
    assert values[0] == 1e-6 and values[-1] == 1.0 and len(values) == 7
    assert labels == ["1 in a million", "1 in 100,000", "1 in 10,000", "1 in 1,000", "1 in 100", "10%", "100%"]
    wide, words = probability_ticks(1e-15)
    assert len(wide) <= 7 and words[-1] == "100%" and not any("e-" in w or "µ" in w for w in words)
    assert probability_ticks(float("nan"))[1] == ["1 in 1,000", "1 in 100", "10%", "100%"]
