"""Issue 23 item 1: Streamlit "magic" printed `None` once per uploaded photo on Transfer learning.

Magic is off in the app's config, and no page holds a bare expression that magic would write."""

import ast
import tomllib

from tests.conftest import ROOT


def test_magic_is_off_in_the_app_config():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False


def test_no_page_has_a_bare_expression():
    found = []
    for path in sorted((ROOT / "pages").glob("*.py")) + [ROOT / "streamlit_app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call):
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    continue  # docstrings
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:60]}")
    assert found == []
