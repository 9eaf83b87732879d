"""explorer.runtime.WeakCache: the one per-model cache (made once, held weakly, never blocks others)."""

import gc
import threading
import time

import pytest

from explorer.runtime import WeakCache


class Thing:  # any weak-referenceable object stands for a model
    pass


def test_made_once_per_object_and_key():
    cache, a, b, calls = WeakCache(), Thing(), Thing(), []

    def make(value):
        return lambda: calls.append(value) or value

    assert cache.get(a, make("a")) == "a"
    assert cache.get(a, make("again")) == "a"
    assert cache.get(b, make("b")) == "b"
    assert cache.get(a, make("a1"), key="layer1") == "a1"
    assert cache.get(a, make("again"), key="layer1") == "a1"
    assert calls == ["a", "b", "a1"]
    assert a in cache and Thing() not in cache


def test_object_dropped_takes_its_values_along():
    cache, thing = WeakCache(), Thing()
    cache.get(thing, lambda: [1, 2, 3])
    cache.get(thing, lambda: "x", key="k")
    assert len(cache._values) == 1
    del thing
    gc.collect()
    assert len(cache._values) == 0 and len(cache._making) == 0


def test_callers_at_once_share_one_make():
    cache, thing, calls = WeakCache(), Thing(), []
    start = threading.Barrier(8)

    def make():
        calls.append(1)
        time.sleep(0.2)
        return object()

    results = []

    def ask():
        start.wait()
        results.append(cache.get(thing, make))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_slow_make_does_not_hold_up_other_objects():
    cache, slow, quick = WeakCache(), Thing(), Thing()
    entered, release = threading.Event(), threading.Event()

    def make_slow():
        entered.set()
        release.wait(10)
        return "slow"

    worker = threading.Thread(target=lambda: cache.get(slow, make_slow))
    worker.start()
    try:
        assert entered.wait(10)
        begun = time.perf_counter()
        assert cache.get(quick, lambda: "quick") == "quick"
        assert time.perf_counter() - begun < 1.0  # not the slow one's 10 s
    finally:
        release.set()
        worker.join()
    assert cache.get(slow, lambda: "other") == "slow"


def test_failed_make_stores_nothing():
    cache, thing = WeakCache(), Thing()

    def boom():
        raise RuntimeError("cannot compile")

    with pytest.raises(RuntimeError):
        cache.get(thing, boom)
    assert thing not in cache
    assert cache.get(thing, lambda: 7) == 7
