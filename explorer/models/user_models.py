"""Classifiers users bring as ``.keras`` files: loaded without running their code, checked, wrapped.

A ``.keras`` file is a zip holding ``config.json`` (the architecture) and the weights. Loading one from
a stranger is only safe if nothing in it can run Python code, so :func:`load_user_model`

1. checks the archive before Keras sees it: size, member names (no paths outside the archive), declared
   sizes (no zip bombs), and the architecture: no ``Lambda`` layers, no classes from modules other than
   Keras and CNN Explorer, no absurd layer sizes that would exhaust the server's memory while building;
2. loads it with ``keras.saving.load_model(..., safe_mode=True, compile=False)``;
3. checks it is an image classifier: one input of shape (batch, height, width, 3) and one output of
   shape (batch, classes) with finite values;
4. wraps it so it follows the app's contract: RGB pixels 0..255 in (the user says which range the model
   was trained on: 0..255, 0..1 or -1..1), class probabilities out (a softmax is added when the model
   outputs logits, detected by running it on probe images).

Anything wrong raises :class:`ModelFileError` (a ValueError) with a message a student can act on.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MAX_MODEL_BYTES = 50 * 1024 * 1024  # matches server.maxUploadSize (MB) in .streamlit/config.toml
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 1000
MAX_SIDE = 1024  # largest input height/width accepted
MAX_WIDTH = 65_536  # largest units/filters of one layer
MAX_LAYERS = 2_000
MAX_CLASSES = 100_000
PROBE_SIDE = 224  # probe size for models that accept any image size
ALLOWED_MODULE_PREFIXES = ("keras", "explorer.")
INPUT_RANGES = {  # range the model expects -> (scale, offset) applied to 0..255 pixels
    "0..255": None,
    "0..1": (1.0 / 255.0, 0.0),
    "-1..1": (1.0 / 127.5, -1.0),
}
_SIZE_KEYS = ("units", "filters", "output_dim", "input_dim", "depth_multiplier")


class ModelFileError(ValueError):
    """A user's model file cannot be used; the message says why and what to do instead."""


def _read(source) -> tuple[bytes, str]:
    """Bytes and display name of a path, bytes or (Streamlit) upload, with the size cap applied."""
    name = getattr(source, "name", None)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name
        if not path.is_file():
            raise ModelFileError(f"No model file at '{path}'.")
        if path.stat().st_size > MAX_MODEL_BYTES:
            raise ModelFileError(_too_big(path.stat().st_size))
        data = path.read_bytes()
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        data = bytes(source.read(MAX_MODEL_BYTES + 1))
    else:
        raise ModelFileError(f"Cannot read a model from a {type(source).__name__}: give a path, bytes or a file.")
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFileError(_too_big(len(data)))
    if not data:
        raise ModelFileError("The file is empty (0 bytes).")
    return data, str(name or "model.keras")


def _too_big(size: int) -> str:
    return (f"The file is {size / 1e6:.0f} MB; the limit is {MAX_MODEL_BYTES / 1e6:.0f} MB. "
            "Use a smaller model (MobileNet-sized models are 10-20 MB).")


def _check_archive(data: bytes, name: str) -> dict:
    """Open the zip, reject anything odd, and return the parsed ``config.json``."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelFileError(
            f"'{name}' is not a Keras model file. Save the model with `model.save('my_model.keras')` "
            "(Keras 3 format; old .h5 files and SavedModel folders are not accepted)."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ModelFileError(f"'{name}' holds {len(infos)} files; a Keras model holds a handful.")
            for info in infos:
                member = info.filename
                if member.startswith(("/", "\\")) or ".." in posixpath.normpath(member).split("/") or ":" in member:
                    raise ModelFileError(f"'{name}' contains a file with an unsafe path ({member!r}); refusing it.")
            unpacked = sum(i.file_size for i in infos)
            if unpacked > MAX_UNPACKED_BYTES:
                raise ModelFileError(f"'{name}' would unpack to {unpacked / 1e6:.0f} MB (limit "
                                     f"{MAX_UNPACKED_BYTES / 1e6:.0f} MB): refusing a possible zip bomb.")
            names = {i.filename for i in infos}
            if "config.json" not in names or not names & {"model.weights.h5", "model.weights.npz"}:
                raise ModelFileError(
                    f"'{name}' is a zip file but not a Keras model (no config.json and model weights inside). "
                    "Save the model with `model.save('my_model.keras')`."
                )
            config_info = zf.getinfo("config.json")
            if config_info.file_size > 20 * 1024 * 1024:
                raise ModelFileError(f"The architecture in '{name}' is implausibly large; refusing it.")
            config = json.loads(zf.read("config.json"))
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise ModelFileError(f"'{name}' is damaged ({exc}). Save the model again and upload the new file.") from None
    _check_config(config, name)
    return config


def _check_config(config, name: str) -> None:
    """Walk the architecture before building it: no code, only Keras classes, sane sizes."""
    layers = 0
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        class_name = node.get("class_name")
        if class_name in ("Lambda", "__lambda__", "TFOpLambda"):
            raise ModelFileError(
                f"'{name}' contains a Lambda layer (custom Python code). Models with code inside cannot be "
                "loaded safely on a shared server; rebuild the model from standard Keras layers."
            )
        module = node.get("module")
        if isinstance(module, str) and module and not module.startswith(ALLOWED_MODULE_PREFIXES):
            raise ModelFileError(
                f"'{name}' uses '{class_name}' from the Python module '{module}'. Only standard Keras layers "
                "(and CNN Explorer's preprocessing layer) can be loaded here."
            )
        if "build_config" in node or "inbound_nodes" in node:
            layers += 1
        for key in _SIZE_KEYS:
            value = node.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > MAX_WIDTH:
                raise ModelFileError(f"'{name}' has a layer with {key}={value}; the limit here is {MAX_WIDTH}.")
        shape = node.get("batch_shape") or node.get("batch_input_shape")
        if class_name == "InputLayer" and isinstance(shape, list):
            if any(isinstance(d, (int, float)) and d > MAX_SIDE * MAX_SIDE for d in shape[1:]) or any(
                    isinstance(d, (int, float)) and d > MAX_SIDE for d in shape[1:3]):
                raise ModelFileError(f"'{name}' expects inputs of shape {shape}; the limit is "
                                     f"{MAX_SIDE}x{MAX_SIDE} pixels.")
        stack.extend(node.values())
    if layers > MAX_LAYERS:
        raise ModelFileError(f"'{name}' has {layers} layers; the limit here is {MAX_LAYERS}.")


def _check_classifier(model, name: str) -> tuple[int, int | None, int | None]:
    """(classes, height, width) of a one-image-in, one-vector-out model; ModelFileError otherwise."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelFileError(
            f"'{name}' has {len(model.inputs)} input(s) and {len(model.outputs)} output(s); an image classifier "
            "has one image input and one output of class scores."
        )
    in_shape, out_shape = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(in_shape) != 4 or in_shape[-1] != 3:
        raise ModelFileError(
            f"'{name}' takes inputs of shape {in_shape}; an image classifier here takes colour images of shape "
            "(batch, height, width, 3), channels last."
        )
    if len(out_shape) != 2 or out_shape[-1] is None or out_shape[-1] < 2:
        what = "a map per pixel (segmentation?)" if len(out_shape) == 4 else f"shape {out_shape}"
        raise ModelFileError(
            f"'{name}' outputs {what}, not one score per class; an image classifier outputs (batch, classes) "
            "with at least 2 classes."
        )
    if out_shape[-1] > MAX_CLASSES:
        raise ModelFileError(f"'{name}' outputs {out_shape[-1]} classes; the limit here is {MAX_CLASSES}.")
    return int(out_shape[-1]), in_shape[1], in_shape[2]


def _probe(model, height: int, width: int, scale_offset) -> np.ndarray:
    """The model's outputs on black, white, grey and noise images (in the range it expects)."""
    rng = np.random.default_rng(0)
    pixels = np.stack([np.zeros((height, width, 3)), np.full((height, width, 3), 255.0),
                       np.full((height, width, 3), 128.0), rng.uniform(0, 255, (height, width, 3))]).astype("float32")
    if scale_offset is not None:
        pixels = pixels * scale_offset[0] + scale_offset[1]
    return np.asarray(model(pixels, training=False), dtype=np.float64)


def _outputs_probabilities(outputs: np.ndarray) -> bool:
    return bool(np.all(outputs >= -1e-6) and np.all(outputs <= 1 + 1e-6)
                and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3))


def _class_names(class_names, classes: int, name: str) -> list[str] | None:
    """The given names as a list (checked against the output count); None: named by count later."""
    if isinstance(class_names, str):
        class_names = [c.strip() for c in class_names.replace(",", "\n").splitlines() if c.strip()]
    if not class_names:
        return None  # explorer.class_names_of: ImageNet's for 1000 outputs, else "class 0", "class 1"...
    class_names = [str(c) for c in class_names]
    if len(class_names) != classes:
        raise ModelFileError(f"'{name}' outputs {classes} classes but {len(class_names)} class names were given.")
    return class_names


def load_user_model(source, input_range: str = "0..255", class_names=None, name: str | None = None):
    """Load a user's ``.keras`` image classifier safely and wrap it to the app's contract.

    ``source``: path, bytes or a (Streamlit) upload. ``input_range``: the pixel range the model was
    trained on, ``"0..255"`` (default, like every model in this app), ``"0..1"`` or ``"-1..1"``; the
    wrapper rescales 0..255 pixels to it. ``class_names``: list or newline/comma separated text (default:
    ImageNet names for 1000 classes, else ``class 0``, ``class 1``...).

    Returns one flat ``keras.Model`` taking RGB pixels 0..255 (NHWC float) and returning class
    probabilities (softmax added if the model outputs logits); its metadata
    (:func:`explorer.classifier.metadata`) holds the class names, display name, weights, input range
    and ``outputs`` (``"probabilities"`` or ``"logits"``, what the file itself outputs). Raises
    :class:`ModelFileError` for anything else.
    """
    if input_range not in INPUT_RANGES:
        raise ModelFileError(f"input_range must be one of {', '.join(INPUT_RANGES)}, got {input_range!r}.")
    data, file_name = _read(source)
    if not file_name.lower().endswith(".keras"):
        raise ModelFileError(f"'{file_name}' is not a .keras file. Save the model with `model.save('my_model.keras')`.")
    _check_archive(data, file_name)
    inner = _load_safely(data, file_name)
    classes, height, width = _check_classifier(inner, file_name)
    names = _class_names(class_names, classes, file_name)
    probabilities = _gives_probabilities(inner, classes, height, width, INPUT_RANGES[input_range], file_name)
    model = _wrap(inner, height, width, INPUT_RANGES[input_range], probabilities)
    from .classifier import describe

    return describe(model, name=name or Path(file_name).stem, weights=f"uploaded file {file_name}", class_names=names,
                    input_range=input_range, outputs="probabilities" if probabilities else "logits")


def _load_safely(data: bytes, file_name: str):
    """Keras' own loader in safe mode, on a temporary copy named by us."""
    import keras

    try:
        with tempfile.TemporaryDirectory(prefix="cnn_explorer_upload_") as folder:
            path = Path(folder) / "model.keras"  # our own name: the user's file name never touches the disk
            path.write_bytes(data)
            inner = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files (ValueError, TypeError, KeyError, OSError)
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"'{file_name}' could not be loaded safely: {reason}") from None
    if not isinstance(inner, keras.Model):
        raise ModelFileError(f"'{file_name}' holds a {type(inner).__name__}, not a model.")
    return inner


def _gives_probabilities(inner, classes: int, height, width, scale_offset, file_name: str) -> bool:
    """Run the model on probe images: finite outputs required; True if they are already probabilities."""
    try:
        outputs = _probe(inner, height or PROBE_SIDE, width or PROBE_SIDE, scale_offset)
    except Exception as exc:
        raise ModelFileError(f"'{file_name}' failed on a test image ({str(exc)[:200]}).") from None
    if outputs.shape != (4, classes) or not np.all(np.isfinite(outputs)):
        raise ModelFileError(f"'{file_name}' gives NaN, infinite or misshaped outputs on test images; "
                             "its weights are probably broken.")
    return _outputs_probabilities(outputs)


def _wrap(inner, height, width, scale_offset, probabilities: bool):
    """One flat model: 0..255 pixels -> (rescaled to the model's range) -> its layers -> probabilities."""
    import keras

    from .classifier import call_flat

    pixels = keras.Input((height, width, 3), name="pixels")
    x = pixels
    if scale_offset is not None:
        x = keras.layers.Rescaling(scale_offset[0], scale_offset[1], name="explorer_input_range")(x)
    x = call_flat(inner, x)  # the user's own layers, not a nested model: feature maps reach every one
    if not probabilities:
        x = keras.layers.Softmax(name="explorer_softmax")(x)
    return keras.Model(pixels, x, name="uploaded_classifier")
