"""Adversarial attacks and epsilon sweeps computed once for the whole class (through :func:`explorer.serving.submit`).

In a lesson most students attack the same sample photo with the same settings. :func:`attack` keys the
run by every input of :func:`explorer.adversarial` (each attacked model's content fingerprint, the photo
by content, the target, and the budget, steps, method, step size and confidence as the attack will use
them), so the same request from a second student joins the attack in progress and a later one replays
it from the cache. :func:`sweep` does the same for :func:`explorer.epsilon_sweep`.

Both return a :class:`~explorer.serving.runs.Subscription`: ``sub.run.snapshot()`` holds the live
state (``image``: the adversarial photo so far, ``history``: p(target) per step, ``log``: every step's
metrics), ``sub.run.result`` the :class:`explorer.AdversarialResult` (or the sweep's points) once
done. Results are shared between sessions: read-only, never mutate them.
"""

from __future__ import annotations

from . import single as attacks
from .ensemble import TRANSFER, adversarial, transfer_settings
from .sweep import epsilon_sweep
from ..models.classifier import as_uint8, target_index
from .. import serving
from ..serving.jobs import SharedJobs
from ..serving import Subscription, model_fingerprint, run_key


def _models(model) -> list:
    return list(model) if isinstance(model, (list, tuple)) else [model]


def _fingerprints(models: list) -> list[str] | None:
    """Each model's content fingerprint; None for a model that cannot be fingerprinted (not shared)."""
    try:
        return [model_fingerprint(m) for m in models]
    except Exception:  # noqa: BLE001  (an exotic model: its attacks are still computed, just never shared)
        return None


def attack_key(model, image, target, epsilon=attacks.DEFAULTS["epsilon"], steps=attacks.DEFAULTS["steps"],
               method=attacks.DEFAULTS["method"], *, step_size=None,
               confidence=attacks.DEFAULTS["confidence"], transfer: bool = False) -> tuple | None:
    """Full-inputs key of an attack, with the settings as the attack will use them (so a budget of 2.0
    and 2, or FGSM with 10 or 40 steps, share). ``ValueError`` for bad settings (as the attack would
    raise); None when a model cannot be fingerprinted."""
    models = _models(model)
    if not models:
        raise ValueError("Give at least one model to attack.")
    given = step_size
    budget, steps, step_size, confidence, _ = attacks.attack_settings(method, epsilon, steps, step_size, confidence)
    extra = {}
    if transfer:  # its own step size and stopping point, and its settings (a change of them is another run)
        step_size, _ = transfer_settings(method, budget, given, confidence)
        extra = {"transfer": dict(TRANSFER)}
    target = target_index(models[0], target)
    prints = _fingerprints(models)
    if prints is None:
        return None
    return run_key("attack", models=prints, ensemble=isinstance(model, (list, tuple)), photo=as_uint8(image),
                   target=target, epsilon=budget, steps=steps, method=method, step_size=step_size,
                   confidence=confidence, **extra)


def attack(model, image, target, epsilon=attacks.DEFAULTS["epsilon"], steps=attacks.DEFAULTS["steps"],
           method=attacks.DEFAULTS["method"], *, step_size=None, confidence=attacks.DEFAULTS["confidence"],
           transfer: bool = False, jobs: SharedJobs | None = None) -> Subscription:
    """Watch :func:`explorer.adversarial` for these inputs (a list of models: the ensemble attack;
    ``transfer=True``: its "make it transfer" mode), computed once for every session asking the same. Bad
    settings raise ``ValueError`` at once."""
    photo = as_uint8(image)
    key = attack_key(model, photo, target, epsilon, steps, method, step_size=step_size, confidence=confidence,
                     transfer=transfer)

    def work(publish, token):
        return adversarial(model, photo, target, epsilon=epsilon, steps=steps, method=method,
                           callback=publish, step_size=step_size, confidence=confidence, transfer=transfer)

    return serving.submit(key, work, via=jobs)


def sweep_key(model, image, target, epsilons, steps=attacks.DEFAULTS["steps"], method=attacks.DEFAULTS["method"],
              *, step_size=None, confidence=attacks.DEFAULTS["confidence"]) -> tuple | None:
    """Full-inputs key of an epsilon sweep (the budgets in order, and the settings of each attack)."""
    models = _models(model)
    attacks.attack_settings(method, 1, steps, step_size, confidence)  # ValueError for bad settings, at once
    prints = _fingerprints(models)
    if prints is None:
        return None
    return run_key("attack_sweep", models=prints, ensemble=isinstance(model, (list, tuple)), photo=as_uint8(image),
                   target=target_index(models[0], target), epsilons=[int(e) for e in epsilons],
                   steps=int(steps), method=method, step_size=step_size, confidence=float(confidence))


def sweep(model, image, target, epsilons, steps=attacks.DEFAULTS["steps"], method=attacks.DEFAULTS["method"], *,
          step_size=None, confidence=attacks.DEFAULTS["confidence"], jobs: SharedJobs | None = None) -> Subscription:
    """Watch :func:`explorer.epsilon_sweep` for these inputs, computed once for every session asking the
    same. Each finished budget is published: ``metrics = {"point": SweepPoint, "total": n}``, so
    ``snapshot.log`` holds the points so far; the result is the list of points."""
    photo = as_uint8(image)
    epsilons = [int(e) for e in epsilons]
    key = sweep_key(model, photo, target, epsilons, steps, method, step_size=step_size, confidence=confidence)

    def work(publish, token):
        def tell(done, total, point):
            publish(done, None, {"point": point, "total": total})

        return epsilon_sweep(model, photo, target, epsilons=epsilons, steps=steps, method=method, callback=tell,
                             step_size=step_size, confidence=confidence)

    return serving.submit(key, work, via=jobs)


def sweep_points(snapshot) -> list:
    """The sweep's points published so far (a joiner sees them all)."""
    return [entry["point"] for entry in snapshot.log if "point" in entry]


__all__ = ["attack", "attack_key", "sweep", "sweep_key", "sweep_points"]
