"""What "a classifier" means in CNN Explorer, in one place.

Every model the app runs (a zoo model, a user's upload, a trained transfer classifier, a clone of any
of them) takes RGB pixels 0..255 and gives class probabilities. This module is the single source for
what the rest of the package and the pages need to know about one:

- :func:`metadata` / :func:`describe`: one small :class:`Metadata` record per model (display name,
  weights, class names, the input range the original network was trained on, what the file output),
  read and written only here. :func:`clone` copies a model with its record; a transfer classifier
  also keeps its record in a :class:`ClassNames` layer, so it survives a ``.keras`` round trip.
- :func:`input_size`, :func:`num_classes`, :func:`class_names_of`, :func:`main_output`,
  :func:`input_range`.
- ONE geometry, :func:`model_view`: **centre crop** to the model's aspect, then an antialiased
  bilinear resize to its input size. :func:`predict` (compiled), the feature maps, the attacks and
  the transfer-learning page all look at a photo through it, so the same photo gets the same
  probabilities on every page.
- :func:`call_flat`: run a model's layers on new inputs through public Keras only, opening nested
  models, so wrapped user models stay flat (every layer reachable for feature maps).
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass, fields, replace

import keras
import numpy as np
import tensorflow as tf

from ..data.imagenet import NUM_CLASSES, class_index, decode
from ..data.imagenet import class_names as imagenet_class_names
from ..data.images import ImageError, load_image
from ..runtime import WeakCache

GEOMETRY = "centre crop to the model's aspect, then resize"
DEFAULT_SIZE = 224  # input size for models that take any size
_ATTRIBUTE = "explorer_metadata"  # the one attribute this module keeps on a model


@dataclass(frozen=True)
class Metadata:
    """What CNN Explorer knows about a classifier besides its graph."""

    name: str | None = None  # display name (zoo key for zoo models)
    weights: str = "unknown"  # human-readable statement of the weights it holds
    class_names: tuple[str, ...] | None = None  # None: ImageNet names for 1000 outputs, else "class i"
    input_range: str = "0..255"  # range the original network was trained on (the model itself takes 0..255)
    outputs: str = "probabilities"  # what the original network output: 'probabilities' or 'logits'


@keras.saving.register_keras_serializable(package="explorer")
class ClassNames(keras.layers.Layer):
    """Identity layer carrying the class names (and the rest of the metadata) into ``.keras`` files."""

    def __init__(self, class_names=(), about=None, **kwargs):
        super().__init__(**kwargs)
        self.class_names = [str(n) for n in class_names]
        self.about = dict(about or {})

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "class_names": self.class_names, "about": self.about}


def metadata(model) -> Metadata:
    """The model's :class:`Metadata`: the record set by :func:`describe`, else what its graph says."""
    found = getattr(model, _ATTRIBUTE, None)
    if isinstance(found, Metadata):
        return found
    layers = [layer for layer in getattr(model, "layers", []) if isinstance(layer, ClassNames)]
    if layers:
        known = {f.name for f in fields(Metadata)}
        about = {k: v for k, v in layers[-1].about.items() if k in known and k != "class_names"}
        return Metadata(**{"name": model.name, **about, "class_names": tuple(layers[-1].class_names)})
    return Metadata(name=getattr(model, "name", None))


def describe(model, **changes):
    """Set fields of the model's :class:`Metadata` (the only writer); returns the model."""
    if changes.get("class_names") is not None:
        changes["class_names"] = tuple(str(n) for n in changes["class_names"])
    record = replace(metadata(model), **changes)
    object.__setattr__(model, _ATTRIBUTE, record)  # a plain attribute, not tracked by Keras
    return model


def clone(model) -> keras.Model:
    """An independent copy with the same weights and metadata: a shared model is never changed."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return describe(copy, **asdict(metadata(model)))


def input_size(model) -> tuple[int, int]:
    """(height, width) a model expects; models with a free size get 224x224."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    h, w = shape[1], shape[2]
    return (h or DEFAULT_SIZE, w or DEFAULT_SIZE)


def main_output(outputs):
    """The main classifier's output of a model's outputs (GoogLeNet gives [main, aux1, aux2])."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def num_classes(model) -> int | None:
    """How many classes the main output scores; None for a model without a classifier on top."""
    shape = model.output_shape
    if shape and isinstance(shape[0], (list, tuple)):  # several outputs: the first is the main one
        shape = shape[0]
    return int(shape[-1]) if len(shape) == 2 and shape[-1] is not None else None


def class_names_of(model) -> list[str]:
    """The model's class names: its own, else ImageNet's for 1000 outputs, else ``class 0``, ``class 1``..."""
    names = metadata(model).class_names
    if names is not None:
        return list(names)
    count = num_classes(model) or 0
    return imagenet_class_names() if count == NUM_CLASSES else [f"class {i}" for i in range(count)]


def has_own_class_names(model) -> bool:
    """Whether the model names its classes itself (user-trained or uploaded), rather than by count."""
    return metadata(model).class_names is not None


def target_index(model, target) -> int:
    """Index of ``target`` (an index or a class name) among the model's classes."""
    names = class_names_of(model)
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < len(names):
            raise ValueError(f"Target class must be 0..{len(names) - 1} for this model, got {target}.")
        return int(target)
    if not has_own_class_names(model) and len(names) == 1000:  # ImageNet: names, synonyms, ids
        return class_index(target)
    wanted = str(target).strip().lower()
    for i, name in enumerate(names):
        if name.lower() == wanted:
            return i
    raise ValueError(f"This model has no class named '{target}'. Its classes: {', '.join(names[:20])}.")


def input_range(model) -> str:
    """The pixel range the original network was trained on (the model itself always takes 0..255)."""
    return metadata(model).input_range


def weights_label(model) -> str:
    """Human-readable statement of the weights a model holds."""
    return metadata(model).weights


def model_view(pixels, size: tuple[int, int]):
    """What a classifier sees of a batch of photos: centre crop to its aspect, antialiased resize.

    ``pixels``: float NHWC, 0..255, any height and width. Differentiable, so attacks can work at the
    photo's own resolution. A photo already at ``size`` passes through unchanged.
    """
    pixels = tf.convert_to_tensor(pixels, tf.float32)
    top, left, crop_h, crop_w = crop_box(tf.shape(pixels)[1], tf.shape(pixels)[2], size)
    crop = pixels[:, top:top + crop_h, left:left + crop_w, :]
    return tf.image.resize(crop, size, method="bilinear", antialias=True)


def crop_box(height, width, size: tuple[int, int]):
    """``(top, left, crop height, crop width)``: the part of a height x width photo :func:`model_view`
    keeps (the centre, cropped to the model's aspect). Works in a graph on int32 tensors; for plain ints,
    ``[int(v) for v in crop_box(...)]``. Maps that explain a prediction are stretched back over this box."""
    want_h, want_w = size
    crop_h = tf.minimum(height, tf.cast(tf.round(tf.cast(width, tf.float32) * want_h / want_w), tf.int32))
    crop_w = tf.minimum(width, tf.cast(tf.round(tf.cast(height, tf.float32) * want_w / want_h), tf.int32))
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def as_uint8(image) -> np.ndarray:
    """One photo as uint8 HxWx3: arrays are checked and rounded, anything else goes to ``load_image``."""
    if not isinstance(image, np.ndarray):
        return load_image(image)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] != 3 or min(arr.shape[:2]) < 1:
        raise ImageError(f"The photo must be an HxWx3 RGB array, got shape {arr.shape}.")
    if arr.dtype == np.uint8:
        return arr
    if not np.all(np.isfinite(arr)):
        raise ImageError("The photo contains NaN or infinite values.")
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def view(model, image) -> np.ndarray:
    """One photo as the model's float32 1xHxWx3 input batch, through :func:`model_view`."""
    pixels = tf.constant(as_uint8(image), tf.float32)[None]
    return model_view(pixels, input_size(model)).numpy()


def seen_image(model, image) -> np.ndarray:
    """What the model sees of a photo, as a uint8 picture to show next to its predictions."""
    return _picture(view(model, image))


def seen_at(image, size: tuple[int, int]) -> np.ndarray:
    """A photo through the one geometry (:func:`model_view`) at ``size`` (height, width), as uint8 HxWx3:
    what a network of that input size sees of it (transfer learning trains on exactly this)."""
    return _picture(model_view(tf.constant(as_uint8(image), tf.float32)[None], tuple(size)).numpy())


def _picture(batch: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(batch[0]), 0, 255).astype(np.uint8)


# One compiled forward pass per model, reused for every photo size.
_FORWARD = WeakCache()


def _compile_forward(model):
    model_ref, size = weakref.ref(model), input_size(model)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    def forward(image):
        return main_output(model_ref()(model_view(image[None], size), training=False))[0]

    return forward


def predict(model, image) -> np.ndarray:
    """The model's class probabilities for one photo (uint8 HxWx3 of any size, a path, bytes...).

    The one geometry of the app (:func:`model_view`), compiled once per model.
    """
    forward = _FORWARD.get(model, lambda: _compile_forward(model))
    return forward(tf.constant(as_uint8(image), tf.float32)).numpy()


def top_k(model, probabilities, k: int = 5) -> list[tuple[int, str, float]]:
    """``(index, class name, probability)`` of the ``k`` most probable classes, best first
    (:func:`explorer.decode` with the model's class names)."""
    return decode(probabilities, k, class_names_of(model))


def call_flat(model, inputs, record: dict | None = None):
    """Run ``model``'s layers on new ``inputs`` (symbolic), opening nested models; public Keras only.

    The result holds the very same layers (same weights) in one flat graph, so every inner layer's
    output is reachable; ``record`` (if given) collects layer name -> output tensor.
    """
    record = {} if record is None else record

    def call(layer, *args, **kwargs):
        out = call_flat(layer, args[0], record) if isinstance(layer, keras.Model) else layer(*args, **kwargs)
        record[layer.name] = out
        return out

    if isinstance(model, keras.Sequential):
        x = inputs
        for layer in model.layers:
            x = call(layer, x)
        return x
    # clone_model with the layers themselves re-runs the graph on ``inputs`` through ``call``; the new
    # model it returns may copy its graph nodes, so the outputs are taken from ``record`` instead.
    keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda layer: layer, call_function=call)
    outputs = [record[name] for name in model.output_names]
    return outputs[0] if len(outputs) == 1 else outputs


def is_nested(model) -> bool:
    """Whether the model holds other models as layers (their inner layers are then not its own)."""
    return any(isinstance(layer, keras.Model) for layer in model.layers)


def flatten(model) -> keras.Model:
    """``model`` itself when flat; otherwise one flat model over the same layers (same weights)."""
    if not is_nested(model):
        return model
    pixels = keras.Input(model.inputs[0].shape[1:], name="pixels")
    flat = keras.Model(pixels, call_flat(model, pixels), name=model.name)
    return describe(flat, **asdict(metadata(model)))
