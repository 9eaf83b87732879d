"""Shared start of the bench scripts that need ImageNet weights: point KERAS_HOME at a temporary copy of
../shared/fixtures/keras_home (unless KERAS_HOME is set) and put the repository on sys.path.

Import it first: ``import _offline  # noqa: F401`` (a script's own folder is on sys.path)."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
if "KERAS_HOME" not in os.environ and (FIXTURES / "keras_home").is_dir():
    _home = tempfile.mkdtemp(prefix="bench_keras_home_")
    shutil.copytree(FIXTURES / "keras_home", _home, dirs_exist_ok=True)
    os.environ["KERAS_HOME"] = _home
sys.path.insert(0, str(ROOT))
