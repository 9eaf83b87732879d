"""Adversarial examples: one network (:mod:`.single`), several at once (:mod:`.ensemble`, with its "make it transfer" mode and :mod:`.diversity`), the epsilon
sweep (:mod:`.sweep`), verdicts made once for the server (:mod:`.verdicts`) and the attacks computed once
for the whole class (:mod:`.shared`).

Names are imported lazily from one export table, like :mod:`explorer`'s: ``explorer.attacks.DEFAULTS``,
``explorer.attacks.adversarial`` (one model or a list), ``explorer.attacks.check_transfer`` ...
"""

from __future__ import annotations

import importlib

# public name -> submodule that defines it
_EXPORTS = {
    "DEFAULTS": "single", "METHODS": "single", "AdversarialResult": "single", "target_index": "single",
    "amplify": "single", "shrink": "single", "png_bytes": "single",
    "adversarial": "ensemble", "adversarial_ensemble": "ensemble", "TRANSFER": "ensemble",
    "input_diversity": "diversity",
    "epsilon_sweep": "sweep", "SweepPoint": "sweep", "success_rate": "sweep",
    "shared_predict": "verdicts", "check_transfer": "verdicts", "TransferCheck": "verdicts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:  # submodules (explorer.attacks.sweep ...) are imported by name
        raise AttributeError(f"module 'explorer.attacks' has no attribute '{name}'")
    globals()[name] = value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    return value


def __dir__():
    return __all__
