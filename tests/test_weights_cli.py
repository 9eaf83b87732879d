"""`python -m explorer.weights`: list, prefetch and install weights for offline classrooms."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import explorer
from explorer import weights
from tests.conftest import FIXTURES, ROOT, needs_fixtures

SMALL = "mobilenet_2_5_128_tf.h5"
SMALL_NOTOP = "mobilenet_2_5_128_tf_no_top.h5"
FIXTURE_CACHE = FIXTURES / "keras_home" / "models"


def run_cli(capsys, *argv):
    code = weights.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def truncated_copy(source: Path, target: Path, keep: int = 4096) -> Path:
    target.write_bytes(source.read_bytes()[:keep])
    return target


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        weights.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("list", "prefetch", "install", "USB"):
        assert word in out
    with pytest.raises(SystemExit):
        weights.main(["prefetch", "--help"])
    out = capsys.readouterr().out
    assert "--all" in out and "--dir" in out and "mobilenet_v2" in out


@needs_fixtures
def test_list_as_a_module_on_the_fixture_cache(keras_home):
    env = {**os.environ, "KERAS_HOME": str(keras_home)}
    proc = subprocess.run([sys.executable, "-m", "explorer.weights", "list"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Keras weights cache: {keras_home / 'models'}"
    assert any(l.split()[:2] == ["present", "mobilenet_v2"] and l.endswith("_1.0_224.h5") for l in lines)
    assert any(l.split()[:2] == ["missing", "vgg16"] for l in lines)
    assert lines[-1] == "7 of 19 files present."


def test_list_an_empty_or_absent_folder(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "list", "--dir", str(tmp_path))
    assert code == 0
    assert out.splitlines()[-1] == "0 of 19 files present."
    assert "present " not in out
    code, out, _ = run_cli(capsys, "list", "--dir", str(tmp_path / "usb"))
    assert "(folder does not exist)" in out.splitlines()[0]


@needs_fixtures
def test_list_flags_damaged_files(tmp_path, capsys):
    shutil.copy(FIXTURE_CACHE / SMALL, tmp_path / SMALL)
    truncated_copy(FIXTURE_CACHE / SMALL_NOTOP, tmp_path / SMALL_NOTOP)
    (tmp_path / weights.CLASS_INDEX_FILE).write_text("<html>captive portal</html>")
    rows = {r["file"]: r for r in weights.status(tmp_path)}
    assert rows[SMALL]["present"] and rows[SMALL]["state"] == "present"
    assert not rows[SMALL_NOTOP]["present"] and "truncated" in rows[SMALL_NOTOP]["state"]
    assert not rows[weights.CLASS_INDEX_FILE]["present"]
    code, out, _ = run_cli(capsys, "list", "--dir", str(tmp_path))
    damaged = [l for l in out.splitlines() if l.strip().startswith("DAMAGED")]
    assert len(damaged) == 2 and any(SMALL_NOTOP in l for l in damaged)
    assert out.splitlines()[-1] == "1 of 19 files present."


def test_prefetch_offline_fails_clearly(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    assert not weights.online()
    code, out, err = run_cli(capsys, "prefetch", "mobilenet_v2", "--dir", str(tmp_path / "usb"))
    assert code == 1
    assert "No internet connection" in err and "install" in err
    assert not (tmp_path / "usb").exists()


def test_prefetch_rejects_bad_arguments(capsys):
    code, _, err = run_cli(capsys, "prefetch")
    assert code == 2 and "--all" in err
    code, _, err = run_cli(capsys, "prefetch", "alexnet")
    assert code == 2 and "alexnet" in err and "vgg16" in err


@needs_fixtures
def test_prefetch_into_a_folder_downloads_only_what_is_missing(tmp_path, capsys, monkeypatch):
    fetched = []

    def fake_download(file_name, directory=None):  # stands in for the network: copies from the fixtures
        fetched.append(file_name)
        source = FIXTURE_CACHE / file_name
        if not source.is_file():
            raise OSError("HTTP Error 404")
        shutil.copy(source, Path(directory) / file_name)

    monkeypatch.setattr(weights, "online", lambda timeout=2.0: True)
    monkeypatch.setattr(weights, "download", fake_download)
    usb = tmp_path / "usb"
    usb.mkdir()
    shutil.copy(FIXTURE_CACHE / weights.CLASS_INDEX_FILE, usb)
    truncated_copy(FIXTURE_CACHE / SMALL, usb / SMALL)  # an interrupted earlier copy
    code, out, _ = run_cli(capsys, "prefetch", "mobilenet", "--small", "--dir", str(usb))
    assert code == 1  # the 1.0/224 MobileNet files are not in the fixtures: reported as failed
    assert weights.CLASS_INDEX_FILE not in fetched  # already present and valid
    assert SMALL in fetched  # the damaged copy was replaced
    assert weights.problem(usb / SMALL) is None
    assert "Done: 5 of 7 files" in out
    code, out, _ = run_cli(capsys, "prefetch", "mobilenet_v2", "--dir", str(usb))
    assert code == 0 and "Done: 3 of 3 files" in out


@needs_fixtures
def test_install_copies_good_files_and_skips_damaged_ones(tmp_path, capsys):
    usb, cache = tmp_path / "usb", tmp_path / "keras" / "models"
    usb.mkdir()
    shutil.copy(FIXTURE_CACHE / SMALL, usb)
    shutil.copy(FIXTURE_CACHE / weights.CLASS_INDEX_FILE, usb)
    truncated_copy(FIXTURE_CACHE / SMALL_NOTOP, usb / SMALL_NOTOP)
    (usb / "notes.txt").write_text("not weights")
    code, out, err = run_cli(capsys, "install", str(usb), "--dir", str(cache))
    assert code == 1
    assert SMALL_NOTOP in err and "SKIPPED" in err
    assert sorted(p.name for p in cache.iterdir()) == [weights.CLASS_INDEX_FILE, SMALL]
    assert (cache / SMALL).read_bytes() == (FIXTURE_CACHE / SMALL).read_bytes()
    (usb / SMALL_NOTOP).unlink()
    assert run_cli(capsys, "install", str(usb), "--dir", str(cache))[0] == 0
    code, _, err = run_cli(capsys, "install", str(tmp_path / "nothing"))
    assert code == 2 and "No folder" in err


@needs_fixtures
def test_a_damaged_cached_file_gives_an_actionable_error(tmp_path, monkeypatch):
    cache = tmp_path / "models"
    cache.mkdir()
    truncated_copy(FIXTURE_CACHE / SMALL, cache / SMALL)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(explorer.WeightsUnavailable) as info:
        explorer.load_model("mobilenet", alpha=0.25, input_shape=(128, 128, 3))
    assert "damaged or truncated" in str(info.value)
    assert "prefetch mobilenet" in str(info.value) and info.value.file_name == SMALL
