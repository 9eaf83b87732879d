"""The folder is the architecture: import rules over explorer/, ui/, pages/ and bench/, read from the source (AST).

- no import cycle among explorer modules, imports inside functions included;
- no private name of another module: ``from x import _name`` or ``module._name`` on an imported explorer module;
- explorer/ never imports streamlit; pages/ never import tensorflow or keras;
- explorer/models and explorer/inspect never import explorer.serving; explorer/serving imports no model,
  optvis, attacks, transfer, inspect or data code;
- explorer/ has at most four loose modules besides ``__init__.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("explorer", "ui", "pages", "bench")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _files(folder: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / folder).rglob("*.py"))}


EXPLORER = _files("explorer")


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> list[tuple[str, int, str | None]]:
    """``(imported module, line, name imported from it or None)`` for every import, inside functions too.
    ``from pkg import mod`` also counts as importing ``pkg.mod`` when that is a module."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.append((sub, node.lineno, None) if sub in EXPLORER else (target, node.lineno, alias.name))
    return out


def _owner(name: str) -> str | None:
    """The explorer module (or package) a dotted import lands in."""
    while name and name not in EXPLORER:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in EXPLORER.items():
        edges = {_owner(target) for target, _, _ in _imports(module, path)} - {None, module}
        # a module's own package __init__ runs first anyway: only count imports of it that name a value
        graph[module] = {e for e in edges if not module.startswith(e + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _all_files():
    for folder in FOLDERS:
        yield from _files(folder).items()


def test_no_import_cycle_among_explorer_modules():
    assert _cycles(_graph()) == []


def test_no_private_name_of_another_module():
    problems = []
    for module, path in _all_files():
        tree = ast.parse(path.read_text(), str(path))
        aliases = {}  # local name -> explorer module it stands for
        for target, line, name in _imports(module, path):
            if name is not None and name.startswith("_") and not name.startswith("__") and _owner(target):
                problems.append(f"{path.relative_to(ROOT)}:{line}: from {target} import {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, path, node)
                for alias in node.names:
                    if f"{target}.{alias.name}" in EXPLORER:
                        aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in EXPLORER:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and aliases[node.value.id] != module):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert problems == []


def _offenders(folder: str, banned) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}: {target}" for module, path in _files(folder).items()
            for target, line, _ in _imports(module, path) if banned(target)]


def _under(target: str, *roots: str) -> bool:
    return any(target == root or target.startswith(root + ".") for root in roots)


def test_explorer_never_imports_streamlit():
    assert _offenders("explorer", lambda t: _under(t, "streamlit")) == []


def test_pages_never_import_tensorflow_or_keras():
    assert _offenders("pages", lambda t: _under(t, "tensorflow", "keras")) == []


def test_models_and_inspect_never_import_serving():
    bad = [o for o in _offenders("explorer", lambda t: _under(t, "explorer.serving"))
           if o.startswith(("explorer/models/", "explorer/inspect/"))]
    assert bad == []


def test_serving_imports_no_model_code():
    model_code = ("explorer.models", "explorer.optvis", "explorer.attacks", "explorer.transfer", "explorer.inspect",
                  "explorer.data")
    bad = [o for o in _offenders("explorer", lambda t: _under(t, *model_code)) if o.startswith("explorer/serving/")]
    assert bad == []


def test_at_most_four_loose_modules_in_explorer():
    loose = sorted(p.name for p in (ROOT / "explorer").glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= 4, loose
