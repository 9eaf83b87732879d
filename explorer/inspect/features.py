"""Feature maps: what every convolutional layer of a model extracts from one photo.

:func:`feature_maps` builds ONE multi-output model per (model, layers) that returns the requested
layers' outputs and the model's own predictions, compiles its forward pass with ``tf.function`` and
caches both (weakly keyed on the model, so a model that goes away takes its extractor with it). One
photo therefore costs one forward pass, never one pass per layer.

Which output is a "feature map": by default the output of each convolution itself (``Conv2D``,
``DepthwiseConv2D``, ``SeparableConv2D``). VGG's convolutions include their ReLU; MobileNet, ResNet
and Inception follow each convolution with batch norm and an activation, and :func:`activation_of`
names the layer that holds the activated result (what the next layer actually sees).

:func:`channel_grid` tiles one layer's channels into a single image (sorted strongest first, shared or
per-channel colour scale), writing one channel at a time into a preallocated uint8 grid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ..models.classifier import call_flat, input_size, is_nested, view
from ..runtime import WeakCache

CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
# Layers that only rescale or activate what a convolution produced (followed by activation_of).
_POINTWISE = (keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.ReLU,
              keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU)

# (model, layers tuple) -> Extractor; weak, so cached models own their extractors.
_EXTRACTORS = WeakCache()


def walk_layers(model: keras.Model):
    """Every layer of a model in order, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from walk_layers(layer)
        else:
            yield layer


def conv_layers(model: keras.Model) -> list[str]:
    """Names of the model's convolutional layers in order (nested models included)."""
    return [layer.name for layer in walk_layers(model) if isinstance(layer, CONV_TYPES)]


def _consumers(model: keras.Model) -> dict[int, list]:
    """id(tensor) -> layers of a flat model that take exactly that tensor as their input."""
    out: dict[int, list] = {}
    for layer in model.layers:
        try:
            tensor = layer.input
        except (AttributeError, ValueError):
            continue
        if isinstance(tensor, list):
            continue
        out.setdefault(id(tensor), []).append(layer)
    return out


def _follow(consumers: dict, layer) -> str:
    while True:
        nxt = consumers.get(id(layer.output), [])
        if len(nxt) != 1 or not isinstance(nxt[0], _POINTWISE):
            return layer.name
        layer = nxt[0]


def activation_of(model: keras.Model, name: str) -> str:
    """The layer holding ``name``'s output after the batch norm / activation that directly follow it.

    ``conv1`` -> ``conv1_bn`` -> ``conv1_relu`` gives ``conv1_relu``; a VGG convolution (ReLU inside)
    gives itself. Stops at any layer with several inputs (an Add or Concatenate) or several consumers.
    Models with nested models give ``name`` itself (their inner graph is not followed).
    """
    if is_nested(model):
        return name
    return _follow(_consumers(model), model.get_layer(name))


def conv_activations(model: keras.Model) -> dict[str, str]:
    """Every conv layer (in order) -> :func:`activation_of` it, computed in one sweep of the graph."""
    names = conv_layers(model)
    if is_nested(model):
        return {n: n for n in names}
    consumers = _consumers(model)
    return {n: _follow(consumers, model.get_layer(n)) for n in names}


@dataclass
class Extractor:
    """One multi-output model per (model, layers): the layers' maps, then the model's own outputs."""

    names: tuple[str, ...]
    model: keras.Model  # outputs: one per name, then the wrapped model's outputs
    run: object  # compiled forward pass
    size: tuple[int, int]
    has_top: bool


def _probabilities_output(outputs):
    """The model's prediction tensor (first output for multi-head models), or None without a top."""
    first = outputs[0]
    return first if len(first.shape) == 2 else None


def _build(model: keras.Model, names: tuple[str, ...]) -> Extractor:
    if is_nested(model):
        pixels = keras.Input(model.inputs[0].shape[1:], name="pixels")
        record: dict = {}
        final = call_flat(model, pixels, record)
        outputs = [final] if not isinstance(final, (list, tuple)) else list(final)
        missing = [n for n in names if n not in record]
        if missing:
            raise ValueError(f"The model has no layer(s) named {', '.join(missing)}.")
        maps = [record[n] for n in names]
        inputs = pixels
    else:
        maps = [model.get_layer(n).output for n in names]
        outputs = list(model.outputs)
        inputs = model.inputs[0]
    probs = _probabilities_output(outputs)
    for name, tensor in zip(names, maps):
        if len(tensor.shape) != 4:
            raise ValueError(f"Layer '{name}' outputs shape {tuple(tensor.shape)}, not feature maps (HxWxC).")
    extra = [probs] if probs is not None else []
    multi = keras.Model(inputs, maps + extra, name=f"{model.name}_feature_maps")
    run = tf.function(lambda x: multi(x, training=False), reduce_retracing=True)
    return Extractor(names, multi, run, input_size(model), probs is not None)


def extractor(model: keras.Model, layers=None) -> Extractor:
    """The cached :class:`Extractor` of ``model`` for ``layers`` (a name or names; None: every conv layer),
    built once per model and layers and reused (gradient and activation loops build on it too)."""
    names = tuple(conv_layers(model) if layers is None else ([layers] if isinstance(layers, str) else layers))
    if not names:
        raise ValueError(f"Model '{model.name}' has no convolutional layers to show.")
    if not is_nested(model):
        known = {layer.name for layer in model.layers}
        missing = [n for n in names if n not in known]
        if missing:
            raise ValueError(f"Model '{model.name}' has no layer(s) named {', '.join(missing)}.")
    return _EXTRACTORS.get(model, lambda: _build(model, names), key=names)


def model_input(model: keras.Model, image) -> np.ndarray:
    """One photo (anything :func:`explorer.load_image` reads) as the model's 1xHxWx3 float32 batch.

    The app's one geometry (:func:`explorer.classifier.view`), so the predictions shown beside the
    maps are :func:`explorer.predict`'s.
    """
    return view(model, image)


def feature_maps_and_predictions(model: keras.Model, image, layers=None):
    """``(feature_maps(model, image, layers), probabilities or None)`` from the same single pass."""
    ext = extractor(model, layers)
    outs = ext.run(tf.constant(model_input(model, image)))
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    maps = {name: out[0].numpy() for name, out in zip(ext.names, outs)}
    probs = outs[len(ext.names)][0].numpy() if ext.has_top else None
    return maps, probs


def feature_maps(model: keras.Model, image, layers=None) -> dict[str, np.ndarray]:
    """Layer name -> HxWxC float32 feature maps of one image, all from one compiled forward pass.

    ``image``: a path, bytes, file or HxWx3 array of any size (centre-cropped and resized to the
    model's input, as :func:`explorer.predict` sees it). ``layers``: a layer name or names; None means every convolutional layer, in
    order (:func:`conv_layers`).
    """
    return feature_maps_and_predictions(model, image, layers)[0]


def layer_shapes(model: keras.Model, layers=None) -> list[tuple[str, int, int, int]]:
    """``(name, height, width, channels)`` of each layer's output for the model's input size."""
    ext = extractor(model, layers)
    spec = ext.model.compute_output_spec(keras.KerasTensor((1, *ext.size, 3)))
    spec = spec if isinstance(spec, (list, tuple)) else [spec]
    return [(name, *map(int, s.shape[1:4])) for name, s in zip(ext.names, spec)]


def channel_order(fmap: np.ndarray) -> np.ndarray:
    """Channel indices sorted by mean activation, strongest first."""
    return np.argsort(-fmap.mean(axis=(0, 1), dtype=np.float64), kind="stable")


@dataclass
class Grid:
    """One layer's channels tiled into a single image."""

    image: np.ndarray  # uint8 (rows*(h+pad)-pad) x (cols*(w+pad)-pad): 0..255 scaled activation
    order: np.ndarray  # channel shown in tile i (row-major)
    rows: int
    cols: int
    tile: tuple[int, int]  # (h, w) of one channel
    pad: int

    def channel_at(self, x: float, y: float) -> int | None:
        """The channel under grid pixel (x, y), or None on padding / outside."""
        h, w = self.tile
        col, row = int(x // (w + self.pad)), int(y // (h + self.pad))
        on_padding = x % (w + self.pad) >= w or y % (h + self.pad) >= h
        if on_padding or not (0 <= row < self.rows and 0 <= col < self.cols):
            return None
        i = row * self.cols + col
        return int(self.order[i]) if i < len(self.order) else None

    def to_rgb(self, colorscale: str = "Viridis", background=(255, 255, 255)) -> np.ndarray:
        """The grid through a colour scale (uint8 HxWx3); padding and unused tiles in ``background``."""
        rgb = colorize(self.image, colorscale)
        h, w = self.tile
        for r in range(1, self.rows):
            rgb[r * (h + self.pad) - self.pad:r * (h + self.pad)] = background
        for c in range(1, self.cols):
            rgb[:, c * (w + self.pad) - self.pad:c * (w + self.pad)] = background
        last_row, used = divmod(len(self.order), self.cols)
        if used:
            rgb[last_row * (h + self.pad):, used * (w + self.pad):] = background
        return rgb


def _finite_range(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanmin(values), np.nanmax(values)
    if not np.isfinite(lo) or not np.isfinite(hi):
        finite = values[np.isfinite(values)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    return float(lo), float(hi)


def _columns(n: int, h: int, w: int) -> int:
    """A near-square layout (at most ~1.5x wider than tall) with the fewest empty tiles."""
    square = max(1, int(np.ceil(np.sqrt(n * h / w))))
    candidates = range(square, max(square, int(square * 1.5)) + 1)
    return min(candidates, key=lambda c: (int(np.ceil(n / c)) * c - n, c))


def channel_grid(fmap: np.ndarray, scale: str = "shared", sort: bool = True, columns: int | None = None,
                 pad: int = 1, max_channels: int | None = None) -> Grid:
    """Tile an HxWxC feature map into one uint8 image, channel by channel (no full-tensor copies).

    ``scale="shared"``: one colour scale for the whole layer (channels compare); ``"channel"``: each
    channel stretched to its own min..max (shows the pattern of weak channels). ``sort``: strongest
    mean activation first. Non-finite values are drawn as 0. Padding pixels are 0.
    """
    if fmap.ndim != 3:
        raise ValueError(f"Feature maps must be HxWxC, got shape {fmap.shape}.")
    if scale not in ("shared", "channel"):
        raise ValueError(f"scale must be 'shared' or 'channel', got {scale!r}.")
    h, w, c = fmap.shape
    order = channel_order(fmap) if sort else np.arange(c)
    if max_channels is not None:
        order = order[:max(1, int(max_channels))]
    n = len(order)
    cols = max(1, min(int(columns) if columns else _columns(n, h, w), n))
    rows = int(np.ceil(n / cols))
    grid = np.zeros((rows * (h + pad) - pad, cols * (w + pad) - pad), dtype=np.uint8)
    if scale == "shared":
        shared = _finite_range(fmap)
    tile = np.empty((h, w), dtype=np.float32)  # the only temporary: one channel
    with np.errstate(invalid="ignore", over="ignore"):
        for i, ch in enumerate(order):
            lo, hi = shared if scale == "shared" else _finite_range(fmap[..., ch])
            np.subtract(fmap[..., ch], lo, out=tile)
            np.multiply(tile, 255.0 / (hi - lo) if hi > lo else 0.0, out=tile)
            np.nan_to_num(tile, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
            np.clip(tile, 0, 255, out=tile)
            r, col = divmod(i, cols)
            grid[r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = tile
    return Grid(grid, order, rows, cols, (h, w), pad)


def colorize(gray: np.ndarray, colorscale: str = "Viridis") -> np.ndarray:
    """uint8 HxW -> uint8 HxWx3 through a plotly colour scale (a 256-entry lookup, no float copies)."""
    return _lookup_table(colorscale)[gray]


@functools.lru_cache(maxsize=32)
def _lookup_table(colorscale: str) -> np.ndarray:
    """The colour scale's 256 RGB entries (plotly's sampling is slow Python: made once per scale)."""
    from plotly.colors import get_colorscale, sample_colorscale, unlabel_rgb

    colors = sample_colorscale(get_colorscale(colorscale), np.linspace(0, 1, 256), colortype="rgb")
    lut = np.array([unlabel_rgb(c) for c in colors], dtype=np.float64).round().astype(np.uint8)
    lut.flags.writeable = False
    return lut
