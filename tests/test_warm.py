"""explorer.warm's compilation ahead of the first Paint: the page's two compiled steps are traced for a
lone run and for a batch (a class pressing Paint then traces nothing), and the background version runs
once per model."""

import threading

from explorer import warm
from explorer.optvis import render
from explorer.optvis.render import PaintRun, step_runs
from tests.conftest import needs_fixtures


def _runs(model, target, count):
    """``count`` runs of each kind a default Paint press submits (regularised, plain noise)."""
    out = []
    for kwargs in warm.page_runs(model, target, 1):
        options = {k: v for k, v in kwargs.items() if k not in ("target", "steps", "seed")}
        out.append([PaintRun(model, target + i, 1, 0, **options) for i in range(count)])
    return out


@needs_fixtures
def test_compiling_the_page_steps_traces_what_a_paint_press_uses(mobilenet_small):
    assert warm.compile_page_steps(mobilenet_small) > 0
    steps = {runs[0].step_fn for runs in _runs(mobilenet_small, 5, 1)}
    assert len(steps) == 2  # the regularised run's step and the plain-noise comparison's
    assert steps <= set(render._STEPS.values(mobilenet_small))
    traced = {step: step.experimental_get_tracing_count() for step in steps}
    for runs in _runs(mobilenet_small, 5, 3) + _runs(mobilenet_small, 9, 1):  # a batch of 3, then a lone run
        step_runs(runs)
    assert {step: step.experimental_get_tracing_count() for step in steps} == traced  # nothing new to trace


@needs_fixtures
def test_the_background_compile_runs_once_per_model(mobilenet_small, monkeypatch):
    monkeypatch.setenv(warm.PRECOMPILE_ENV, "1")
    calls = []
    monkeypatch.setattr(warm, "compile_page_steps", lambda model: calls.append(model))
    monkeypatch.setattr(warm, "_compiled", type(warm._compiled)())
    assert warm.compile_in_background(mobilenet_small) is True
    assert warm.compile_in_background(mobilenet_small) is False  # once per model, whoever opens the page
    for thread in threading.enumerate():
        if thread.name == "explorer-compile":
            thread.join(30)
    assert calls == [mobilenet_small]
    monkeypatch.setenv(warm.PRECOMPILE_ENV, "0")
    assert warm.compile_in_background(mobilenet_small) is False  # turned off


def test_the_page_paints_for_all_networks_by_default_only_when_they_are_few_and_light():
    assert warm.paint_together(["mobilenet_v2", "mobilenet_0.75", "mobilenet_0.25"])
    assert not warm.paint_together(["mobilenet_v2"])  # alone: nothing to paint together with
    assert not warm.paint_together(["vgg16", "mobilenet_v2", "mobilenet_0.25"])  # VGG-16: minutes a picture
