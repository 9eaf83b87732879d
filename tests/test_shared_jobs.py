"""Keyed heavy jobs computed once for every session (explorer.shared_jobs), and the attack and transfer
training keys and jobs built on it (explorer.shared_attacks, explorer.transfer.shared).

The generic tests count calls to the work function; the attack tests count calls to
explorer.attacks.adversarial on the tiny hand-built classifier; the training test trains once on a
random-weights MobileNet backbone (no fixtures needed).
"""

import threading
import time

import numpy as np
import pytest

import explorer
from explorer.attacks import single as attacks, shared as shared_attacks
from explorer.serving.jobs import SharedJobs
from explorer.serving.keys import run_key
from explorer.serving.queue import ABANDONED, WorkQueue
from explorer.serving.runs import SharedRuns
from explorer.transfer import shared as shared_training


@pytest.fixture
def jobs():
    pool = SharedJobs(SharedRuns(cache_mb=64, orphan_grace=30), use_slots=False)
    yield pool
    pool.shutdown()


def count_calls(monkeypatch, module, name) -> list:
    """Wrap ``module.name`` so each call is recorded (its positional arguments) in the returned list."""
    calls = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def _finish(sub, timeout=120):
    deadline = time.monotonic() + timeout
    snaps = []
    for snap in sub.updates(0.02):
        snaps.append(snap)
        assert time.monotonic() < deadline, "the job did not finish"
    return snaps


def _wait_for(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Steps:
    """A work function of ``n`` steps that counts its calls; it pauses after step ``hold`` until released."""

    def __init__(self, n=5, hold=None, fail_at=None):
        self.n, self.hold, self.fail_at = n, hold, fail_at
        self.calls = 0
        self.release = threading.Event()

    def __call__(self, publish, token):
        self.calls += 1
        for step in range(1, self.n + 1):
            if step == self.fail_at:
                raise RuntimeError("the model broke at step 3")
            publish(step, np.full((2, 2, 3), step, np.uint8), {"probability": step / self.n, "loss": 1.0 / step})
            if step == self.hold:
                while not self.release.wait(0.01):
                    token.raise_if_cancelled()
        return {"steps": self.n, "image": np.zeros((2, 2, 3), np.uint8)}


def test_two_sessions_one_computation_the_joiner_sees_the_curve_so_far_then_a_replay(jobs):
    work = Steps(n=6, hold=3)
    key = run_key("job", model=None, n=6)
    first = jobs.submit(key, work)
    _wait_for(lambda: first.run.snapshot().step == 3)
    second = jobs.submit(key, Steps())  # a second student, the same key: joins, its own work never runs
    assert second.run is first.run and second.joined and not first.joined
    joined = next(second.updates(0.02))
    assert joined.step == 3 and joined.state == "running"  # from the current step, not from the start
    assert [m["probability"] for m in joined.log] == pytest.approx([1 / 6, 2 / 6, 3 / 6])  # the whole curve
    assert joined.history == pytest.approx([1 / 6, 2 / 6, 3 / 6]) and joined.image[0, 0, 0] == 3
    work.release.set()
    _finish(first), _finish(second)
    assert work.calls == 1 and first.run.state == "done" and first.run.result["steps"] == 6
    assert len(first.run.snapshot().log) == 6
    assert not first.run.result["image"].flags.writeable  # shared: frozen
    first.close(), second.close()

    again = Steps()
    third = jobs.submit(key, again)
    snaps = _finish(third)
    assert third.replayed and not third.joined and len(snaps) == 1 and third.run.result is first.run.result
    assert again.calls == 0  # replayed from the cache: nothing computed
    assert jobs.shared.started == 1 and jobs.shared.joined == 1 and jobs.shared.replayed == 1


def test_a_run_nobody_watches_is_cancelled_after_the_grace_and_not_cached():
    pool = SharedJobs(SharedRuns(cache_mb=64, orphan_grace=0.2), use_slots=False)
    try:
        work = Steps(n=5, hold=2)
        key = run_key("job", n=5)
        sub = pool.submit(key, work)
        _wait_for(lambda: sub.run.snapshot().step == 2)
        sub.close()  # the student closed the tab: nobody watches any more
        assert sub.run.wait_finished(10).state == "cancelled"
        assert isinstance(sub.run.error, explorer.Cancelled) and str(sub.run.error) == ABANDONED
        assert len(pool.shared.cache) == 0
        _wait_for(lambda: pool.active() == 0)
        again = pool.submit(key, Steps(n=2))  # asked again later: computed afresh
        assert not again.replayed and _finish(again)[-1].state == "done"
        again.close()
    finally:
        pool.shutdown()


def test_the_time_budget_and_cancel_stop_a_job(jobs):
    sub = jobs.submit(run_key("job", n=7), Steps(n=7, hold=1), max_seconds=0.2)
    assert _finish(sub)[-1].state == "cancelled" and "time limit" in str(sub.run.error)
    sub.close()
    other = jobs.submit(run_key("job", n=8), Steps(n=8, hold=1))
    _wait_for(lambda: other.run.snapshot().step == 1)
    other.run.token.cancel("Stopped.")
    assert _finish(other)[-1].state == "cancelled" and str(other.run.error) == "Stopped."
    other.close()


def test_an_exception_is_the_runs_error_and_the_next_job_still_runs(jobs):
    key = run_key("job", broken=True)
    sub = jobs.submit(key, Steps(n=5, fail_at=3))
    assert _finish(sub)[-1].state == "failed"
    assert isinstance(sub.run.error, RuntimeError) and "step 3" in str(sub.run.error)
    assert sub.run.snapshot().step == 2 and len(jobs.shared.cache) == 0  # a crash is never cached
    sub.close()
    fixed = Steps(n=2)
    again = jobs.submit(key, fixed)  # the same key again: computed afresh, and the worker is fine
    assert _finish(again)[-1].state == "done" and fixed.calls == 1
    again.close()


def test_a_divergence_keeps_its_result_and_is_cached(jobs):
    def diverges(publish, token):
        publish(1, None, {"loss": 1.0})
        raise explorer.Diverged("NaN at step 2", result={"steps": 1})

    sub = jobs.submit(run_key("job", nan=True), diverges)
    assert _finish(sub)[-1].state == "failed"
    assert isinstance(sub.run.error, explorer.Diverged) and sub.run.result == {"steps": 1}
    sub.close()
    again = jobs.submit(run_key("job", nan=True), Steps())
    assert again.replayed and isinstance(again.run.error, explorer.Diverged)
    again.close()


def test_a_job_waits_for_a_heavy_work_slot_and_shows_its_place_in_line():
    queue = WorkQueue(1)
    pool = SharedJobs(SharedRuns(cache_mb=64, orphan_grace=30), queue=queue)
    try:
        with queue.slot():  # a training run of another student holds the only slot
            sub = pool.submit(run_key("job", queued=True), Steps(n=2))
            _wait_for(lambda: sub.run.snapshot().position == 1)
            snap = sub.run.snapshot()
            assert snap.state == "queued" and snap.step == 0
        assert _finish(sub)[-1].state == "done" and sub.run.snapshot().position == 0
        sub.close()
    finally:
        pool.shutdown()


def test_a_job_that_is_not_shareable_is_always_computed(jobs):
    work = Steps(n=1)
    for _ in range(2):
        sub = jobs.submit(None, work)
        assert _finish(sub)[-1].state == "done"
        sub.close()
    assert work.calls == 2 and len(jobs.shared.cache) == 0


# --- attacks ---------------------------------------------------------------------------------------------

PHOTO = np.random.default_rng(0).integers(0, 256, (40, 48, 3)).astype(np.uint8)


def test_attack_keys_follow_every_input_and_the_photo_by_content(tiny_classifier):
    model = tiny_classifier(["mug", "rocket", "spaceman"])
    key = shared_attacks.attack_key(model, PHOTO, 2, epsilon=4, steps=10, method="pgd", confidence=0.5)
    assert key == shared_attacks.attack_key(model, PHOTO.copy(), "spaceman", epsilon=4.0, steps=10, method="pgd",
                                            confidence=0.5)  # identical bytes, the same class by name
    changed = PHOTO.copy()
    changed[0, 0, 0] ^= 1
    assert key != shared_attacks.attack_key(model, changed, 2, epsilon=4, steps=10, method="pgd", confidence=0.5)
    for other in (dict(epsilon=5), dict(steps=11), dict(method="lesson"), dict(confidence=0.6), dict(step_size=2)):
        settings = {**dict(epsilon=4, steps=10, method="pgd", confidence=0.5), **other}
        assert key != shared_attacks.attack_key(model, PHOTO, 2, **settings), other
    assert key != shared_attacks.attack_key(model, PHOTO, 1, epsilon=4, steps=10, method="pgd", confidence=0.5)
    retrained = tiny_classifier(["mug", "rocket", "spaceman"], seed=1)  # same layers, other weights
    assert key != shared_attacks.attack_key(retrained, PHOTO, 2, epsilon=4, steps=10, method="pgd", confidence=0.5)
    # FGSM takes one step whatever the slider says: the same attack, the same key
    assert (shared_attacks.attack_key(model, PHOTO, 2, steps=10, method="fgsm")
            == shared_attacks.attack_key(model, PHOTO, 2, steps=40, method="fgsm"))
    # an ensemble is keyed by each model's fingerprint, in order
    pair = shared_attacks.attack_key([model, retrained], PHOTO, 2)
    assert pair != shared_attacks.attack_key([model, model], PHOTO, 2) != shared_attacks.attack_key(model, PHOTO, 2)
    assert pair != shared_attacks.attack_key([retrained, model], PHOTO, 2)
    with pytest.raises(ValueError, match="Unknown method"):
        shared_attacks.attack_key(model, PHOTO, 2, method="magic")


@pytest.fixture
def counted_attacks(monkeypatch):
    return count_calls(monkeypatch, attacks, "adversarial")


def test_two_students_one_attack_then_an_instant_replay(tiny_classifier, jobs, counted_attacks):
    model = tiny_classifier(["mug", "rocket", "spaceman"])
    settings = dict(epsilon=16, steps=30, method="pgd", confidence=0.99)
    first = shared_attacks.attack(model, PHOTO, 2, jobs=jobs, **settings)
    second = shared_attacks.attack(model, PHOTO.copy(), 2, jobs=jobs, **settings)
    assert second.run is first.run and second.joined
    snaps = _finish(second)
    _finish(first)
    result = first.run.result
    assert len(counted_attacks) == 1 and isinstance(result, explorer.AdversarialResult)
    assert result.linf <= 16 and not result.image.flags.writeable
    running = [s for s in snaps if s.state == "running" and s.log]
    assert all(s.history == [m["probability"] for m in s.log] for s in running)  # the curve so far, every time
    assert first.run.snapshot().history == pytest.approx(result.history)
    first.close(), second.close()

    third = shared_attacks.attack(model, PHOTO, "spaceman", jobs=jobs, **settings)
    assert _finish(third)[-1].state == "done" and third.replayed and third.run.result is result
    assert third.run.snapshot().history == result.history and third.run.snapshot().image is result.image
    assert len(counted_attacks) == 1  # replayed: not attacked again
    other = shared_attacks.attack(model, PHOTO, 1, jobs=jobs, **settings)  # another target: its own attack
    assert _finish(other)[-1].state == "done" and len(counted_attacks) == 2
    third.close(), other.close()


def test_an_attack_that_cannot_run_is_the_runs_error(tiny_classifier, jobs):
    model = tiny_classifier(["mug", "rocket", "spaceman"])
    with pytest.raises(ValueError, match="no class named"):
        shared_attacks.attack(model, PHOTO, "tabby", jobs=jobs)  # bad input: at once, nothing started
    other = tiny_classifier(["cat", "dog"])
    sub = shared_attacks.attack([model, other], PHOTO, "spaceman", jobs=jobs)  # 'dog' network knows no spaceman
    assert _finish(sub)[-1].state == "failed" and "no class named" in str(sub.run.error)
    sub.close()


def test_a_sweep_is_shared_and_a_joiner_gets_every_point_so_far(tiny_classifier, jobs):
    model = tiny_classifier(["mug", "rocket", "spaceman"])
    first = shared_attacks.sweep(model, PHOTO, 2, epsilons=[0, 1, 8], steps=5, method="pgd", confidence=0.0,
                                 jobs=jobs)
    snaps = _finish(first)
    points = first.run.result
    assert [p.epsilon for p in points] == [0, 1, 8]
    assert shared_attacks.sweep_points(snaps[-1]) == points
    first.close()
    again = shared_attacks.sweep(model, PHOTO, 2, epsilons=[0, 1, 8], steps=5, method="pgd", confidence=0.0,
                                 jobs=jobs)
    assert again.replayed and again.run.result is points
    again.close()


# --- transfer training -----------------------------------------------------------------------------------

def _images(seed, n=4):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (24, 24, 3)).astype(np.uint8) for _ in range(n)]


def test_datasets_are_keyed_by_their_content_and_class_order():
    cats, dogs = _images(0), _images(1)
    key = shared_training.dataset_key({"cat": cats, "dog": dogs})
    assert key == shared_training.dataset_key({"cat": [c.copy() for c in cats], "dog": list(dogs)})
    assert key != shared_training.dataset_key({"dog": dogs, "cat": cats})  # the labels would differ
    assert key != shared_training.dataset_key({"cat": cats, "dogs": dogs})
    changed = [c.copy() for c in cats]
    changed[1][3, 3, 0] ^= 1  # one student's upload differs by one bit from another's: never shared
    assert key != shared_training.dataset_key({"cat": changed, "dog": dogs})
    assert shared_training.dataset_key({"cat": ["cat.jpg"], "dog": dogs}) is None  # a path: not shared
    backbone = explorer.transfer.load_backbone("mobilenet_0.25", weights=None)
    a = shared_training.training_key({"cat": cats, "dog": dogs}, backbone, 0, epochs=2, learning_rate=1e-3)
    assert a == shared_training.training_key({"cat": cats, "dog": dogs}, backbone, 0, epochs=2.0,
                                             learning_rate=1e-3)
    assert a != shared_training.training_key({"cat": cats, "dog": dogs}, backbone, 1, epochs=2, learning_rate=1e-3)
    assert a != shared_training.training_key({"cat": cats, "dog": dogs}, backbone, 0, epochs=3, learning_rate=1e-3)


def test_two_students_train_once_the_joiner_gets_every_epoch_and_a_replay_trains_nothing(jobs, monkeypatch):
    calls = count_calls(monkeypatch, shared_training.training, "train_classifier")
    backbone = explorer.transfer.load_backbone("mobilenet_0.25", weights=None)
    data = {"cat": _images(0), "dog": _images(1)}
    settings = dict(epochs=3, validation_split=0.25, batch_size=4)
    first = shared_training.train(data, backbone, 0, jobs=jobs, **settings)
    second = shared_training.train({k: [i.copy() for i in v] for k, v in data.items()}, backbone, 0, jobs=jobs,
                                   **settings)
    assert second.run is first.run and second.joined
    snaps = _finish(second)
    _finish(first)
    result = first.run.result
    assert len(calls) == 1 and result.class_names == ["cat", "dog"]
    latest, curves = shared_training.progress(snaps[-1])
    assert latest["stage"] == "head" and latest["step"] == latest["total"] == 3
    assert curves["loss"] == pytest.approx(result.history["loss"])  # every epoch, from the log
    assert curves["val_accuracy"] == pytest.approx(result.history["val_accuracy"])
    first.close(), second.close()
    third = shared_training.train(data, backbone, 0, jobs=jobs, **settings)
    assert _finish(third)[-1].state == "done" and third.replayed and third.run.result is result
    assert len(calls) == 1
    third.close()
    bad = shared_training.train(data, backbone, 0, jobs=jobs, epochs=0)
    assert _finish(bad)[-1].state == "failed" and "epochs must be" in str(bad.run.error)
    bad.close()


def test_time_waiting_in_line_is_not_taken_from_the_budget():
    queue = WorkQueue(1)
    pool = SharedJobs(SharedRuns(cache_mb=64, orphan_grace=30), queue=queue)
    try:
        with queue.slot():
            sub = pool.submit(run_key("job", patient=True), Steps(n=3), max_seconds=0.5)
            _wait_for(lambda: sub.run.snapshot().position == 1)
            time.sleep(0.8)  # longer than its whole budget, in line
        assert _finish(sub)[-1].state == "done" and sub.run.result["steps"] == 3
        sub.close()
    finally:
        pool.shutdown()
