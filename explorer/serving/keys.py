"""Keys of shared work, and what makes a result safe to share: content keys, fingerprints, frozen values.

Heavy runs and shared values are keyed by their full inputs (:func:`run_key`): the model's content
fingerprint, every option, photos and uploads by the bytes of their content, so one student's upload is
never shown to another unless the bytes are identical. Shared results are frozen (:func:`freeze`:
read-only arrays) and sized (:func:`nbytes`) for the bounded caches.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from ..runtime import WeakCache

_FINGERPRINTS = WeakCache()


def content_key(data) -> str:
    """A short hex digest of bytes or an array's content (dtype and shape included): equal only for
    identical content, so one student's upload is never shown to another unless the bytes are the same."""
    digest = hashlib.sha256()
    if isinstance(data, np.ndarray):
        arr = np.ascontiguousarray(data)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.data)
    else:
        digest.update(bytes(data))
    return digest.hexdigest()[:32]


def model_fingerprint(model) -> str:
    """Content key of a Keras model: its architecture and every weight (made once per model object, held
    weakly).

    Two copies of the same zoo model, or two students uploading the same ``.keras`` file, get the same
    fingerprint; a fine-tuned copy gets another one.
    """
    return _FINGERPRINTS.get(model, lambda: _fingerprint(model))


def _fingerprint(model) -> str:
    digest = hashlib.sha256(_architecture(model).encode())
    for weight in model.weights:
        digest.update(content_key(np.asarray(weight.numpy())).encode())
    return digest.hexdigest()[:32]


def _layers(model) -> list:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out.extend(_layers(layer))
    return out


def _architecture(model) -> str:
    """The model's JSON with its automatic layer names (``dense_3``, ``functional_7``) replaced by their
    order, so two loads of the same model read the same."""
    text = model.to_json()
    names = list(dict.fromkeys([model.name] + [layer.name for layer in _layers(model)]))
    for i, name in sorted(enumerate(names), key=lambda item: -len(item[1])):
        text = text.replace(f'"{name}"', f'"#{i}"')
    return text


def _freeze_value(value):
    if isinstance(value, np.ndarray):
        return ("array", content_key(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("bytes", content_key(value))
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze_value(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_value(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 1.0 and 1 are the same setting
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"Cannot key a run on a {type(value).__name__}.")


def run_key(kind: str, model=None, **inputs) -> tuple:
    """The full-inputs key of a heavy run: ``kind`` (e.g. ``'ideal_image'``), the model's fingerprint and
    every input; arrays and bytes (photos, uploads) by content. ``TypeError`` for inputs that cannot be
    keyed (such as a custom objective function): such runs are not shared."""
    return (kind, None if model is None else model_fingerprint(model), _freeze_value(inputs))


def nbytes(value) -> int:
    """Rough memory held by a result: its arrays, plus 8 bytes a number (for the cache's size limit)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (bytes, bytearray, str)):  # a str: a PNG data URI, say (ASCII: a byte a character)
        return len(value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values()) + 64
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value) + 8 * len(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name)) for f in dataclasses.fields(value)) + 64
    if isinstance(value, BaseException):
        return nbytes(getattr(value, "result", None)) + 256
    if hasattr(value, "count_params"):  # a Keras model: its weights (float32), counted even when shared
        try:
            return 4 * int(value.count_params())
        except (ValueError, AttributeError, TypeError):
            return 8
    return 8


def freeze(value):
    """Make a shared result's arrays read-only (in place) and return it: sessions must not mutate it."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, dict):
        for v in value.values():
            freeze(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            freeze(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            freeze(getattr(value, f.name))
    elif isinstance(value, BaseException):
        freeze(getattr(value, "result", None))
    return value


__all__ = ["content_key", "freeze", "model_fingerprint", "nbytes", "run_key"]
