"""Where pretrained ImageNet weights live, which are present, and how to get the missing ones.

Keras keeps downloaded weights in ``$KERAS_HOME/models`` (default ``~/.keras/models``). Classrooms are
often offline, so nothing here downloads unless asked and the network is reachable; a missing file
raises :class:`WeightsUnavailable` naming the file and the command that fetches it.

Run ``python -m explorer.weights --help`` for the command line (list, prefetch, install, --dir). Set
``CNN_EXPLORER_OFFLINE=1`` to never try the network (a classroom server behind a captive portal, tests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

_GOOGLE = "https://storage.googleapis.com/tensorflow/keras-applications/"
DOWNLOAD_HOST = "storage.googleapis.com"
CLASS_INDEX_URL = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_FILE = "imagenet_class_index.json"
OFFLINE_ENV = "CNN_EXPLORER_OFFLINE"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: The one model shipped with CNN Explorer (``assets/models``, Apache-2.0, see its README.md): MobileNetV2
#: 1.0/224, dequantised from Google's 8-bit TFLite release. Used when the Keras cache has no MobileNetV2
#: weights, so a fresh offline machine opens on real predictions; its no-top backbone is derived from it.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"
BUNDLED_MODEL = ("mobilenet_v2", 1.0, 224)
BUNDLED_NOTE = "bundled: dequantised from 8-bit, a few points less accurate"


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are not in the Keras cache and cannot be downloaded now."""

    def __init__(self, message: str, file_name: str | None = None):
        super().__init__(message)
        self.file_name = file_name


def keras_home() -> Path:
    """The Keras home folder, as Keras itself resolves it (``KERAS_HOME`` or ``~/.keras``)."""
    env = os.environ.get("KERAS_HOME")
    if env:
        return Path(env).expanduser()
    base = Path.home()
    if not os.access(base, os.W_OK):
        base = Path("/tmp")
    return base / ".keras"


def cache_dir() -> Path:
    """The folder Keras looks in for downloaded weights."""
    return keras_home() / "models"


def _alpha_text_v1(alpha: float) -> str:
    return {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}.get(float(alpha), "2_5")


def weight_file(name: str, include_top: bool = True, alpha: float = 1.0, rows: int = 224) -> str | None:
    """File name Keras uses for the ImageNet weights of a zoo model (None: no ImageNet weights exist)."""
    suffix_top = {True: "", False: "_notop"}[bool(include_top)]
    if name in ("vgg16", "vgg19", "resnet50", "inception_v3", "inception_resnet_v2"):
        return f"{name}_weights_tf_dim_ordering_tf_kernels{suffix_top}.h5"
    if name == "mobilenet":
        return f"mobilenet_{_alpha_text_v1(alpha)}_{int(rows)}_tf{'' if include_top else '_no_top'}.h5"
    if name == "mobilenet_v2":
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{int(rows)}{'' if include_top else '_no_top'}.h5"
    return None


def weight_url(file_name: str) -> str:
    if file_name == CLASS_INDEX_FILE:
        return CLASS_INDEX_URL
    folder = {
        "vgg16_": "vgg16/",
        "vgg19_": "vgg19/",
        "resnet50_": "resnet/",
        "inception_v3_": "inception_v3/",
        "inception_resnet_v2_": "inception_resnet_v2/",
        "mobilenet_v2_": "mobilenet_v2/",
        "mobilenet_": "mobilenet_v1_base/",
    }
    for prefix, sub in folder.items():
        if file_name.startswith(prefix):
            return _GOOGLE + sub + file_name
    raise ValueError(f"Unknown weights file '{file_name}'.")


@dataclass(frozen=True)
class Variant:
    """One downloadable weights file of one model configuration."""

    model: str
    include_top: bool
    alpha: float = 1.0
    rows: int = 224

    @property
    def file_name(self) -> str:
        return weight_file(self.model, self.include_top, self.alpha, self.rows)

    @property
    def label(self) -> str:
        extra = "" if (self.alpha, self.rows) == (1.0, 224) or self.model not in ("mobilenet", "mobilenet_v2") else f" alpha={self.alpha} {self.rows}px"
        return f"{self.model}{extra}{'' if self.include_top else ' (no top)'}"


PRETRAINED = ("vgg16", "vgg19", "resnet50", "mobilenet", "mobilenet_v2", "inception_v3", "inception_resnet_v2")


def variants(name: str | None = None) -> list[Variant]:
    """The weight files the app knows about (default sizes, plus the small MobileNets)."""
    out = []
    for model in PRETRAINED:
        if name not in (None, model):
            continue
        rows = 299 if model.startswith("inception") else 224
        for top in (True, False):
            out.append(Variant(model, top, 1.0, rows))
        if model == "mobilenet":
            for alpha, r in ((0.75, 192), (0.25, 128)):
                for top in (True, False):
                    out.append(Variant(model, top, alpha, r))
    return out


def bundled_path(name: str, alpha: float = 1.0, rows: int = 224) -> Path | None:
    """The bundled weights file (with the classifier on top) for this configuration, or None.

    The backbone without the top (``include_top=False``) is derived from the same file by
    :func:`explorer.load_model`: there is one file.
    """
    if (name, float(alpha), int(rows)) != BUNDLED_MODEL:
        return None
    path = BUNDLED_DIR / weight_file(name, True, alpha, rows)
    return path if problem(path) is None else None


def is_bundled(path) -> bool:
    """Whether a weights path is the bundled model's file."""
    return path is not None and Path(path).resolve().parent == BUNDLED_DIR


def source(name: str, include_top: bool = True, alpha: float = 1.0, rows: int = 224) -> str | None:
    """Where this configuration's ImageNet weights would come from now: ``"cache"``, ``"bundled"`` or None."""
    file_name = weight_file(name, include_top, alpha, rows)
    if file_name is None:
        return None
    if is_cached(file_name):
        return "cache"
    return "bundled" if bundled_path(name, alpha, rows) is not None else None


def is_cached(file_name: str, directory: Path | None = None) -> bool:
    path = (directory or cache_dir()) / file_name
    return path.is_file() and path.stat().st_size > 0


def problem(path: Path) -> str | None:
    """Why a weights file cannot be used (missing, empty, not HDF5, truncated), or None if it is fine.

    A download cut short or a bad copy from a USB stick otherwise fails deep inside Keras with an
    obscure h5py error; this says which file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        return "missing"
    if path.stat().st_size == 0:
        return "empty (0 bytes)"
    if path.name == CLASS_INDEX_FILE:
        try:
            data = json.loads(path.read_text())
            return None if len(data) == 1000 else f"holds {len(data)} classes, not 1000"
        except (OSError, ValueError) as exc:
            return f"not valid JSON ({exc})"
    with open(path, "rb") as f:
        if f.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            return "not an HDF5 weights file"
    try:
        import h5py

        with h5py.File(path, "r"):
            return None
    except OSError as exc:
        return f"damaged or truncated ({exc})"


def online(timeout: float = 2.0) -> bool:
    """Whether the weights server can be reached right now (a quick TCP connect, no download).

    Always False when the environment variable ``CNN_EXPLORER_OFFLINE`` is set to 1/true/yes.
    """
    if os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((DOWNLOAD_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def missing_message(file_name: str, what: str) -> str:
    return (
        f"The ImageNet weights for {what} are not on this computer (looked for {cache_dir() / file_name}) "
        "and cannot be downloaded now (no internet connection). On a computer with internet run "
        f"`python -m explorer.weights prefetch {what.split()[0]} --dir weights_usb`, then copy the files "
        f"into {cache_dir()}. Meanwhile you can use the model with random (untrained) weights."
    )


def download(file_name: str, directory: Path | None = None) -> Path:
    """Download one weights file into ``directory`` (default: the Keras cache)."""
    import keras

    directory = Path(directory or cache_dir())
    directory.mkdir(parents=True, exist_ok=True)
    path = keras.utils.get_file(file_name, weight_url(file_name), cache_subdir=str(directory.resolve()))
    return Path(path)


def ensure(name: str, include_top: bool = True, alpha: float = 1.0, rows: int = 224, allow_download: bool = True) -> Path | None:
    """Path of the cached weights for a model, else the bundled file (:func:`bundled_path`; for
    ``include_top=False`` too: the caller derives the backbone, see :func:`is_bundled`), else downloaded
    if possible; None if none exist.

    Raises :class:`WeightsUnavailable` with an actionable message when the file is missing and the
    download cannot happen.
    """
    file_name = weight_file(name, include_top, alpha, rows)
    if file_name is None:
        return None
    label = Variant(name, include_top, alpha, rows).label
    if is_cached(file_name):
        path = cache_dir() / file_name
        issue = problem(path)
        if issue is None:
            return path
        raise WeightsUnavailable(
            f"The weights file {path} is {issue}. Delete it and fetch it again with "
            f"`python -m explorer.weights prefetch {name}` (or copy a good one from another computer).",
            file_name,
        )
    bundled = bundled_path(name, alpha, rows)
    if bundled is not None:  # never download what the project ships: a classroom may be offline or slow
        return bundled
    if not allow_download or not online():
        raise WeightsUnavailable(missing_message(file_name, label), file_name)
    try:
        return download(file_name)
    except Exception as exc:  # network errors come in many types (URLError, HTTPError, OSError...)
        raise WeightsUnavailable(
            f"Downloading {file_name} failed ({exc}). " + missing_message(file_name, label), file_name
        ) from None


def status(directory: Path | None = None) -> list[dict]:
    """One row per known weights file: model, file, present (usable), state, size in MB.

    ``state`` is ``"present"``, ``"missing"`` or a short description of what is wrong with the file.
    """
    directory = Path(directory or cache_dir())
    known = [(v.label, v.file_name) for v in variants()] + [("ImageNet class names", CLASS_INDEX_FILE)]
    rows = []
    for label, file_name in known:
        path = directory / file_name
        issue = problem(path)
        rows.append(
            {
                "model": label,
                "file": file_name,
                "present": issue is None,
                "state": issue or "present",
                "size_mb": round(path.stat().st_size / 1e6, 2) if path.is_file() else None,
            }
        )
    return rows


def bundled_status() -> list[dict]:
    """The files shipped in ``assets/models``: model, file, present, size in MB."""
    name, alpha, rows = BUNDLED_MODEL
    files = [(f"{name} ({BUNDLED_NOTE}; its no-top backbone is derived from it)", weight_file(name, True, alpha, rows))]
    out = []
    for label, file_name in files:
        path = BUNDLED_DIR / file_name
        ok = path.is_file() and path.stat().st_size > 0 and problem(path) is None
        out.append({"model": label, "file": file_name, "present": ok,
                    "size_mb": round(path.stat().st_size / 1e6, 2) if path.is_file() else None})
    return out


def _cmd_list(args) -> int:
    directory = Path(args.dir) if args.dir else cache_dir()
    rows = status(directory)
    print(f"Keras weights cache: {directory}" + ("" if directory.is_dir() else " (folder does not exist)"))
    width = max(len(r["model"]) for r in rows)
    for r in rows:
        mark = "present" if r["present"] else ("missing" if r["state"] == "missing" else "DAMAGED")
        size = f"{r['size_mb']:>7.1f} MB" if r["size_mb"] is not None else " " * 10
        note = "" if r["state"] in ("present", "missing") else f"  ({r['state']})"
        print(f"  {mark:8} {r['model']:<{width}} {size}  {r['file']}{note}")
    print(f"Bundled with CNN Explorer in {BUNDLED_DIR} (used when the cache lacks them):")
    for r in bundled_status():
        size = f"{r['size_mb']:>7.1f} MB" if r["size_mb"] is not None else " " * 10
        print(f"  {'bundled' if r['present'] else 'MISSING':8} {r['model']:<{width}} {size}  {r['file']}")
    n = sum(r["present"] for r in rows)
    print(f"{n} of {len(rows)} files present.")
    return 0


def _cmd_prefetch(args) -> int:
    directory = Path(args.dir) if args.dir else cache_dir()
    names = list(PRETRAINED) if args.all else args.names
    if not names:
        print("Name at least one model, or use --all. Models: " + ", ".join(PRETRAINED), file=sys.stderr)
        return 2
    unknown = [n for n in names if n not in PRETRAINED]
    if unknown:
        print(f"Unknown model(s): {', '.join(unknown)}. Known: {', '.join(PRETRAINED)}", file=sys.stderr)
        return 2
    if not online():
        print(f"No internet connection ({DOWNLOAD_HOST} unreachable). Run this on a connected computer, "
              f"then copy {directory} to the classroom machine and run `python -m explorer.weights install "
              "FOLDER` there.", file=sys.stderr)
        return 1
    files = [CLASS_INDEX_FILE] + [v.file_name for n in names for v in variants(n)
                                  if args.small or (v.alpha, v.rows) in ((1.0, 224), (1.0, 299))]
    failed = 0
    for f in files:
        if problem(directory / f) is None:
            print(f"  present   {f}")
            continue
        (directory / f).unlink(missing_ok=True)  # a damaged copy would make get_file skip the download
        try:
            download(f, directory)
            issue = problem(directory / f)
            if issue:
                raise OSError(f"the downloaded file is {issue}")
            print(f"  fetched   {f}")
        except Exception as exc:
            failed += 1
            print(f"  FAILED    {f}: {exc}", file=sys.stderr)
    print(f"Done: {len(files) - failed} of {len(files)} files in {directory}.")
    return 1 if failed else 0


def _cmd_install(args) -> int:
    source = Path(args.source)
    target = Path(args.dir) if args.dir else cache_dir()
    if not source.is_dir():
        print(f"No folder at {source}: give the folder that holds the .h5 files (e.g. the USB stick).",
              file=sys.stderr)
        return 2
    candidates = [f for f in sorted(source.iterdir()) if f.is_file() and (f.suffix == ".h5" or f.name == CLASS_INDEX_FILE)]
    if not candidates:
        print(f"No weight files (.h5) in {source}.", file=sys.stderr)
        return 1
    target.mkdir(parents=True, exist_ok=True)
    copied = skipped = 0
    for f in candidates:
        issue = problem(f)
        if issue:
            skipped += 1
            print(f"  SKIPPED   {f.name}: {issue}", file=sys.stderr)
            continue
        tmp = target / (f.name + ".part")
        shutil.copyfile(f, tmp)
        os.replace(tmp, target / f.name)  # never leave a half-copied file under the real name
        copied += 1
        print(f"  copied    {f.name}")
    print(f"Copied {copied} file(s) from {source} into {target}" + (f"; skipped {skipped} damaged." if skipped else "."))
    return 1 if skipped else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explorer.weights",
        description="Manage the ImageNet weights CNN Explorer uses, for classrooms without internet. "
        "Keras keeps them in $KERAS_HOME/models (default ~/.keras/models).",
        epilog="Classroom without internet: on a connected computer run `python -m explorer.weights prefetch "
        "--all --small --dir /media/usb/weights`; on the classroom machine run `python -m explorer.weights "
        "install /media/usb/weights`, then `python -m explorer.weights list`.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="show which weights are present and which are missing")
    p.add_argument("--dir", help="cache folder to inspect (default: the Keras cache)")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("prefetch", help="download weights now, while online")
    p.add_argument("names", nargs="*", metavar="NAME", help="models: " + ", ".join(PRETRAINED))
    p.add_argument("--all", action="store_true", help="every model")
    p.add_argument("--small", action="store_true", help="also the small MobileNet variants")
    p.add_argument("--dir", help="download into this folder (e.g. a USB stick) instead of the Keras cache")
    p.set_defaults(func=_cmd_prefetch)
    p = sub.add_parser("install", help="copy weight files from a folder (e.g. a USB stick) into the Keras cache, "
                       "checking each one")
    p.add_argument("source", help="folder holding .h5 files")
    p.add_argument("--dir", help="cache folder to install into (default: the Keras cache)")
    p.set_defaults(func=_cmd_install)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
