"""Sharing the server: TF thread settings, the heavy-work queue, cancellation, NaN guard."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from explorer import runtime
from explorer.serving import queue as heavy
from tests.conftest import ROOT


def test_configure_sets_tf_thread_pools_once():
    code = (
        "import json; from explorer import runtime; "
        "first = runtime.configure(intra_op=3, inter_op=1); "
        "import tensorflow as tf; tf.constant(1.0) + 1.0; "
        "print(json.dumps([first, runtime.configure(intra_op=5)]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, second = json.loads(proc.stdout.strip().splitlines()[-1])
    assert first["applied"] and (first["intra_op"], first["inter_op"]) == (3, 1)
    assert not second["applied"] and (second["intra_op"], second["inter_op"]) == (3, 1)
    assert first["heavy_slots"] >= 1
    assert first["malloc_arenas_limited"] is True  # glibc Linux, MALLOC_ARENA_MAX not set
    assert first["switch_interval_ms"] == pytest.approx(runtime.SWITCH_INTERVAL_S * 1000) != 5.0  # Python's default: 5


def test_heavy_slots_follow_the_environment(monkeypatch):
    monkeypatch.setenv(runtime.SLOTS_ENV, "3")
    assert runtime.heavy_slots() == 3
    monkeypatch.setenv(runtime.SLOTS_ENV, "lots")
    assert runtime.heavy_slots() == max(1, min(4, runtime.cpu_count()))


def _hold(queue, gate, log, name, on_wait=None):
    with queue.slot(on_wait=on_wait, poll=0.01):
        log.append(("start", name, queue.running))
        gate.wait(5)
        log.append(("end", name))


def _until(condition, timeout=5.0):
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.01)
    assert condition()


def test_queue_bounds_concurrency_and_serves_in_order():
    queue = heavy.WorkQueue(slots=2)
    gates = [threading.Event() for _ in range(5)]
    log, positions = [], {}
    threads = []
    for i in range(5):
        told = lambda p, i=i: positions.setdefault(i, []).append(p)  # noqa: E731
        t = threading.Thread(target=_hold, args=(queue, gates[i], log, i, told))
        t.start()
        threads.append(t)
        _until(lambda: queue.running + queue.waiting == i + 1)  # arrive in a known order
    assert (queue.running, queue.waiting) == (2, 3)
    assert (positions[2], positions[3], positions[4]) == ([1], [2], [3]) and 0 not in positions
    gates[0].set()
    _until(lambda: queue.waiting == 2 and positions[4][-1] == 2)
    gates[1].set()
    _until(lambda: queue.waiting == 1 and positions[4][-1] == 1)
    for gate in gates:
        gate.set()
    for t in threads:
        t.join(5)
    starts = [e for e in log if e[0] == "start"]
    assert [name for _, name, _ in starts] == [0, 1, 2, 3, 4]
    assert max(running for _, _, running in starts) == 2
    assert positions[4] == [3, 2, 1]  # told each time the line moved
    assert (queue.running, queue.waiting) == (0, 0)


def test_a_failing_run_frees_its_slot():
    queue = heavy.WorkQueue(slots=1)
    with pytest.raises(ZeroDivisionError):
        with queue.slot():
            1 / 0
    assert queue.running == 0
    with queue.slot():
        assert queue.running == 1


def test_cancel_while_waiting_leaves_the_line():
    queue = heavy.WorkQueue(slots=1)
    token = heavy.CancelToken()
    result = {}

    def wait_then_give_up():
        try:
            with queue.slot(cancel=token, poll=0.01):
                result["ran"] = True
        except runtime.Cancelled as exc:
            result["cancelled"] = str(exc)

    with queue.slot():
        t = threading.Thread(target=wait_then_give_up)
        t.start()
        time.sleep(0.1)
        assert queue.waiting == 1
        token.cancel("Stopped by the user.")
        t.join(5)
    assert result == {"cancelled": "Stopped by the user."}
    assert (queue.running, queue.waiting) == (0, 0)


def test_an_interrupted_waiter_does_not_block_the_line():
    """Streamlit stops a script by raising inside st.* calls, e.g. in the on_wait message."""
    queue = heavy.WorkQueue(slots=1)

    class StopScript(BaseException):
        pass

    def interrupted(position):
        raise StopScript()

    with queue.slot():
        with pytest.raises(StopScript):
            with queue.slot(on_wait=interrupted):
                pass
        assert queue.waiting == 0
    with queue.slot():  # the slot is free again
        pass


def test_cancel_token_by_hand_and_by_time_budget():
    token = heavy.CancelToken()
    assert not token.cancelled
    token.raise_if_cancelled()
    token.cancel("Stop pressed.")
    token.cancel("second reason is ignored")
    assert token.cancelled and token.reason == "Stop pressed."
    with pytest.raises(runtime.Cancelled, match="Stop pressed"):
        token.raise_if_cancelled()

    # A budget not yet spent leaves the token alone (60 s: a busy machine may stall this thread for
    # seconds, and a 50 ms budget once ran out between making the token and looking at it).
    assert not heavy.CancelToken(max_seconds=60).cancelled
    budget = heavy.CancelToken(max_seconds=0.05)
    t0 = time.monotonic()
    assert budget.wait(600.0) is True  # wakes at its deadline, not after the 10 minutes asked for
    assert time.monotonic() - t0 < 300.0
    assert "time limit" in budget.reason


def test_heavy_work_uses_one_shared_queue():
    assert heavy.work_queue() is heavy.work_queue()
    with heavy.heavy_work():
        assert heavy.work_queue().running == 1
    assert heavy.work_queue().running == 0


def test_diverged_is_the_one_divergence_error_and_keeps_the_partial_result():
    import explorer

    error = runtime.Diverged("Lower the learning rate.", result="the run so far")
    assert isinstance(error, ArithmeticError) and error.result == "the run so far"
    assert explorer.Diverged is runtime.Diverged
    assert not hasattr(explorer.optvis, "DivergedError") and "DivergedError" not in dir(explorer)
    assert runtime.Diverged("no result").result is None


def test_a_process_wide_object_is_made_once_however_many_ask_at_once():
    import threading
    import time

    made = []

    @runtime.process_wide
    def thing():
        """The thing."""
        made.append(1)
        time.sleep(0.1)  # every other caller arrives while it is being made
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(thing())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(got) == 8 and all(g is got[0] for g in got)
    assert thing.__doc__ == "The thing." and thing() is got[0]
