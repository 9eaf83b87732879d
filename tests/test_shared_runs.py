"""Identical runs computed once and shared (explorer.shared_runs): keys, dedup, replay, the bounded cache.

Dedup and replay use the small real MobileNet (alpha 0.25, 128 px) through a private Scheduler, and
count the compiled-step calls (explorer.optvis.render.STEP_CALLS) to prove one computation.
"""

import keras
import numpy as np
import pytest

from explorer.optvis import render
from explorer.optvis.batching import ideal_image_key, paint
from explorer.serving.batching import Scheduler
from explorer.serving.cache import RunCache
from explorer.serving.keys import content_key, model_fingerprint, run_key
from explorer.serving.runs import SharedRuns

FAST = dict(preset="best looking", views=1)


def _paint(sched, *args, **kwargs):
    """explorer.paint on a private scheduler."""
    return paint(*args, via=sched, **kwargs)


@pytest.fixture
def scheduler():
    sched = Scheduler(SharedRuns(cache_mb=64, orphan_grace=30), workers=1, use_slots=False)
    yield sched
    sched.shutdown()


def _finish(sub, timeout=120):
    snaps = list(sub.updates(0.05))
    assert snaps[-1].state in ("done", "failed", "cancelled")
    return snaps


def test_keys_follow_content_not_identity():
    photo = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert content_key(photo) == content_key(photo.copy())
    other = photo.copy()
    other[0, 0, 0] += 1
    assert content_key(other) != content_key(photo)
    assert content_key(b"abc") == content_key(bytearray(b"abc")) != content_key(b"abd")
    assert run_key("attack", photo=photo, epsilon=1.0) == run_key("attack", photo=photo.copy(), epsilon=1)
    assert run_key("attack", photo=photo, epsilon=1) != run_key("attack", photo=other, epsilon=1)
    with pytest.raises(TypeError):
        run_key("x", fn=lambda: 0)


def test_model_fingerprint_is_the_same_for_equal_weights_only():
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inp)))
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    assert model_fingerprint(model) == model_fingerprint(twin)
    changed = keras.models.clone_model(model)
    weights = model.get_weights()
    weights[0] = weights[0] + 1e-3
    changed.set_weights(weights)
    assert model_fingerprint(changed) != model_fingerprint(model)


def test_equal_settings_spelled_differently_share_a_key(mobilenet_small):
    a = ideal_image_key(mobilenet_small, 281, 200, 0, dict(preset="best looking"))
    b = ideal_image_key(mobilenet_small, 281, 200, 0, dict(render.DEFAULTS, rotation=30, frame_every=10))
    assert a == b
    assert a != ideal_image_key(mobilenet_small, 282, 200, 0, dict(preset="best looking"))
    assert a != ideal_image_key(mobilenet_small, 281, 200, 1, dict(preset="best looking"))
    assert ideal_image_key(mobilenet_small, 281, 200, 0, dict(objective=render.obj.l2())) is None


def test_cache_evicts_least_recently_used_and_never_passes_its_limit():
    cache = RunCache(limit_mb=1.0)
    block = lambda: np.zeros(300_000, np.uint8)  # 0.3 MB  # noqa: E731
    for key in "abc":
        assert cache.put(key, block())
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("d", block())  # 1.2 MB > 1 MB: the least recently used (b) goes
    assert "b" not in cache and all(k in cache for k in "acd")
    assert cache.size_bytes <= cache.limit_bytes and cache.evictions == 1
    assert not cache.put("huge", np.zeros(2_000_000, np.uint8))  # over the limit alone: not kept
    assert "huge" not in cache and cache.size_bytes <= cache.limit_bytes


def test_two_sessions_one_computation_then_an_instant_replay(mobilenet_small, scheduler):
    steps = 8
    before = dict(render.STEP_CALLS)
    first = _paint(scheduler, mobilenet_small, 281, steps=steps, seed=1, **FAST)
    while first.run.snapshot().step < 2:  # the second student presses the button a little later
        first.run.wait_finished(0.02)
    second = _paint(scheduler, mobilenet_small, 281, steps=steps, seed=1, **FAST)
    assert second.run is first.run
    joined = next(second.updates(0.05))
    assert joined.step >= 2 and len(joined.history) == joined.step  # from the current frame, curves so far
    _finish(first), _finish(second)
    assert render.STEP_CALLS["runs"] - before["runs"] == steps  # one computation for both
    result = first.run.result
    assert result.steps == steps and result.status == "done"
    assert not result.image.flags.writeable  # shared: frozen

    calls = dict(render.STEP_CALLS)
    third = _paint(scheduler, mobilenet_small, 281, steps=steps, seed=1, preset="best looking", views=1.0)
    snaps = _finish(third)
    assert third.run.cached and len(snaps) == 1 and third.run.result is result
    assert snaps[0].history == result.history and snaps[0].step == steps
    assert render.STEP_CALLS == calls  # replayed: no step computed
    assert scheduler.shared.started == 1 and scheduler.shared.joined == 1 and scheduler.shared.replayed == 1


def test_a_cancelled_run_is_not_cached(mobilenet_small, scheduler):
    sub = _paint(scheduler, mobilenet_small, 282, steps=200, **FAST)
    sub.run.token.cancel("Stopped.")
    _finish(sub)
    assert sub.run.state == "cancelled" and len(scheduler.shared.cache) == 0
    again = _paint(scheduler, mobilenet_small, 282, steps=200, **FAST)
    assert again.run is not sub.run and not again.run.cached
    again.run.token.cancel()
    _finish(again)


def test_the_disk_copy_serves_a_restarted_server_and_stays_bounded(tmp_path):
    cache = RunCache(limit_mb=1.0, directory=tmp_path)
    cache.put(("ideal_image", "m", 1), {"image": np.full((10, 10, 3), 7, np.uint8)})
    restarted = RunCache(limit_mb=1.0, directory=tmp_path)  # a new process (or a replica) on the same folder
    value = restarted.get(("ideal_image", "m", 1))
    assert value is not None and value["image"][0, 0, 0] == 7 and not value["image"].flags.writeable
    assert restarted.get(("ideal_image", "m", 2)) is None
    for i in range(20):  # 20 x 0.3 MB: the folder keeps at most 4 x 1 MB
        cache.put(("big", i), np.zeros(300_000, np.uint8))
    assert sum(p.stat().st_size for p in tmp_path.glob("*.pkl")) <= 4e6
    assert restarted.get(("big", 19)) is not None and restarted.get(("big", 0)) is None
