"""Every public name of `explorer` stays what it is after any submodule is imported (no module shadows a function)."""

import importlib
import pkgutil

import explorer


def test_importing_every_submodule_leaves_public_functions_callable():
    for info in pkgutil.walk_packages(explorer.__path__, "explorer."):
        importlib.import_module(info.name)
    for name in explorer.__all__:
        value = getattr(explorer, name)
        assert not type(value).__name__ == "module", f"explorer.{name} is a module, not the public object"
    assert callable(explorer.conv_by_hand) and callable(explorer.receptive_field) and callable(explorer.grad_cam)
