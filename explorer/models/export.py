"""Classifiers out of the app, for phones: TensorFlow Lite files and the zip a Teachable Machine user expects.

:func:`export_tflite` turns any classifier the app runs (a zoo model, a user's upload, a trained
transfer classifier, the class model) into the bytes of a ``.tflite`` file that keeps the app's
contract: it takes **float32 RGB pixels 0..255**, one photo of the model's input size (a batch of 1),
and returns the model's class probabilities; preprocessing stays inside, exactly as in the Keras model.
``quantize="dynamic"`` stores the weights in 8 bits (dynamic-range quantisation): a file about four
times smaller whose answers differ a little from the Keras model's.

The route is public Keras and TensorFlow only: a ``keras.export.ExportArchive`` (a SavedModel with one
endpoint of fixed shape, the main output only) read by ``tf.lite.TFLiteConverter.from_saved_model``.
(``TFLiteConverter.from_keras_model`` does not take Keras 3 models, and ``from_concrete_functions``
lost the Keras 3 variables: its file had no weights.) A conversion takes seconds for MobileNetV2;
each model's files are made once (:class:`explorer.runtime.WeakCache`) and dropped with the model.

:func:`labels_txt` is the labels file (one class name a line, in the order of the outputs) and
:func:`tflite_zip` the download: ``model.tflite``, ``labels.txt`` and a short ``README.txt``.
:func:`tflite_classifier` runs a ``.tflite`` file here (tests and the benchmark compare it with Keras).
"""

from __future__ import annotations

import io
import re
import tempfile
import warnings
import zipfile

import keras
import numpy as np
import tensorflow as tf

from ..runtime import WeakCache
from .classifier import class_names_of, input_size, main_output, metadata, num_classes

QUANTIZE = (None, "dynamic")
INPUT_NAME = "pixels"
_FILES = WeakCache()  # model -> {quantize: .tflite bytes}
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]+")


def _check(model, quantize) -> tuple[int, int]:
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be None (float) or 'dynamic' (8-bit weights), got {quantize!r}.")
    if not isinstance(model, keras.Model):
        raise ValueError(f"Only Keras models can be exported for phones, not a {type(model).__name__}.")
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4 or model.inputs[0].shape[-1] != 3:
        raise ValueError("Only image classifiers can be exported for phones: this model does not take one "
                         "RGB image (height x width x 3).")
    if num_classes(model) is None:
        raise ValueError("This model has no classifier on top (its output is not one score per class), "
                         "so a phone app could not read an answer from it. Export a model that outputs classes.")
    return input_size(model)


def _convert(model, quantize, size: tuple[int, int]) -> bytes:
    height, width = size
    spec = tf.TensorSpec([1, height, width, 3], tf.float32, name=INPUT_NAME)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda pixels: main_output(model(pixels, training=False)), input_signature=[spec])
    try:
        with tempfile.TemporaryDirectory() as folder:
            archive.write_out(folder, verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(folder)
            if quantize == "dynamic":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001  (the converter raises many kinds; the user needs one plain message)
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"This model could not be converted for phones (TensorFlow Lite): {first}") from exc


def export_tflite(model, quantize: str | None = None) -> bytes:
    """The bytes of a ``.tflite`` file computing ``model``: float32 RGB pixels 0..255 of shape
    (1, height, width, 3) in, the model's class probabilities (1, classes) out.

    ``quantize``: None (float32 weights, the same answers as Keras to about 1e-6) or ``"dynamic"``
    (8-bit weights: about 4x smaller, answers within a few percent). Made once per model and setting.
    ``ValueError`` (plain words) for a model that is not an image classifier or cannot be converted.
    """
    size = _check(model, quantize)
    return _FILES.get(model, lambda: _convert(model, quantize, size), key=quantize)


def labels_txt(model) -> str:
    """The labels file of a phone export: one class name a line, in the order of the model's outputs."""
    names = [_LINE_BREAKS.sub(" ", name).strip() or f"class {i}" for i, name in enumerate(class_names_of(model))]
    return "\n".join(names) + "\n"


def readme_txt(model, quantize: str | None = None) -> str:
    """The README of the zip: what the files are and how a phone app feeds the model."""
    height, width = input_size(model)
    count = num_classes(model)
    name = metadata(model).name or getattr(model, "name", "classifier")
    weights = "8-bit weights, dynamic-range quantised" if quantize == "dynamic" else "float32 weights"
    return (
        f"{name}: an image classifier exported from CNN Explorer for TensorFlow Lite ({weights}).\n\n"
        "Files\n"
        "- model.tflite: the network.\n"
        f"- labels.txt: its {count} class names, one a line, in the order of the outputs.\n\n"
        "Input: one photo as float32 RGB pixels in 0..255 (not 0..1, not -1..1), shape "
        f"[1, {height}, {width}, 3] (batch, height, width, channels).\n"
        f"Crop the centre of the photo to the model's shape ({width} wide, {height} high) and resize it to "
        f"{width}x{height} pixels; the model does its own preprocessing.\n"
        f"Output: [1, {count}] class probabilities (they add up to 1); the highest one is the answer, and "
        "line i+1 of labels.txt names output i.\n\n"
        "On a phone: the TensorFlow Lite / LiteRT image classification example apps (Android, iOS) take a "
        "model.tflite and a labels.txt; set the input to float32 with mean 0 and standard deviation 1, so "
        "the pixels go in unchanged.\n"
    )


def tflite_zip(model, quantize: str | None = None) -> bytes:
    """The phone download: a zip holding ``model.tflite``, ``labels.txt`` and ``README.txt``."""
    data = export_tflite(model, quantize)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.tflite", data)
        zf.writestr("labels.txt", labels_txt(model))
        zf.writestr("README.txt", readme_txt(model, quantize))
    return out.getvalue()


def tflite_classifier(data: bytes):
    """A function running a ``.tflite`` classifier here: float pixels 0..255, HxWx3 or 1xHxWx3 at the
    model's input size -> its class probabilities (1-D). One interpreter, not shared between threads."""
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT (not installed here) replaces it
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=bytes(data))
    interpreter.allocate_tensors()
    [given] = interpreter.get_input_details()
    [answer] = interpreter.get_output_details()

    def run(pixels) -> np.ndarray:
        batch = np.asarray(pixels, np.float32).reshape(given["shape"])
        interpreter.set_tensor(given["index"], batch)
        interpreter.invoke()
        return interpreter.get_tensor(answer["index"])[0].copy()

    return run


__all__ = ["QUANTIZE", "export_tflite", "labels_txt", "readme_txt", "tflite_classifier", "tflite_zip"]
