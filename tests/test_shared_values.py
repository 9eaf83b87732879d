"""Values every session asks for alike (explorer.shared_values), and the feature maps built on it:
computed once however many sessions ask at the same moment, one read-only copy, a bounded cache."""

import threading
import time

import numpy as np
import pytest

from ui import shared_views as features
from explorer.serving.values import SharedValues


def test_many_sessions_asking_at_once_compute_once():
    values, calls = SharedValues(limit_mb=16), []

    def make():
        calls.append(1)
        time.sleep(0.2)  # long enough for every other session to arrive while it is being made
        return {"maps": np.ones((4, 4), np.float32)}

    got = [None] * 12
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, values.get(("k",), make))) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and values.made == 1
    assert all(g is got[0] for g in got)  # one copy in memory for everyone
    with pytest.raises(ValueError):
        got[0]["maps"][0, 0] = 2  # read-only: no session can change another's picture


def test_other_keys_are_other_values_and_the_cache_stays_bounded():
    values = SharedValues(limit_mb=1)
    first = values.get("a", lambda: np.zeros(100_000, np.float32))  # 0.4 MB
    values.get("b", lambda: np.zeros(100_000, np.float32))
    values.get("c", lambda: np.zeros(100_000, np.float32))  # evicts "a"
    assert values.cache.size_bytes <= 1e6 and "a" not in values.cache
    assert values.get("a", lambda: np.ones(100_000, np.float32))[0] == 1 and first[0] == 0
    huge = values.get("huge", lambda: np.zeros(1_000_000, np.float32))  # 4 MB: returned, not kept
    assert huge.shape == (1_000_000,) and "huge" not in values.cache


def test_text_counts_towards_the_limit():
    """PNG data URIs (the Feature maps page's pictures) are text: they count by their length."""
    values = SharedValues(limit_mb=1)
    for name in "abc":
        values.get(name, lambda: "data:image/png;base64," + "A" * 400_000)
    assert 1e6 - 500_000 < values.cache.size_bytes <= 1e6 and "a" not in values.cache


def test_an_error_while_making_reaches_the_caller_and_is_not_kept():
    values = SharedValues(limit_mb=1)

    def broken():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        values.get("k", broken)
    assert values.get("k", lambda: np.ones(2))[0] == 1


def test_shared_feature_maps_equal_a_fresh_pass_and_are_shared_by_content(tiny_classifier):
    model = tiny_classifier()
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    maps, probs = features.shared_feature_maps_and_predictions(model, photo)
    fresh_maps, fresh_probs = features.feature_maps_and_predictions(model, photo)
    assert list(maps) == list(fresh_maps)
    for name in maps:
        np.testing.assert_allclose(maps[name], fresh_maps[name], rtol=1e-6, atol=1e-6)
        assert not maps[name].flags.writeable
    np.testing.assert_allclose(probs, fresh_probs, rtol=1e-6, atol=1e-7)
    again, _ = features.shared_feature_maps_and_predictions(model, photo.copy())  # same bytes: the same copy
    assert all(again[name] is maps[name] for name in maps)
    other = photo.copy()
    other[0, 0, 0] ^= 1
    changed, _ = features.shared_feature_maps_and_predictions(model, other)  # one pixel: another photo
    assert all(changed[name] is not maps[name] for name in maps)
