"""The model zoo: the great ImageNet CNNs, each taking RGB pixels 0..255.

``load_model(name)`` wraps the Keras application with its own preprocessing as the first layer (one
flat functional model, so every internal layer is reachable for feature maps), loads ImageNet weights
from the Keras cache when they are there, and says clearly when they are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from .. import weights as _weights
from .classifier import describe, input_size, weights_label  # noqa: F401  (input_size, weights_label: zoo API)
from .googlenet import GoogLeNet
from .preprocess import ImageNetPreprocess


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    year: int
    paper: str
    input_size: int
    preprocess: str  # 'tf' (-1..1) or 'caffe' (BGR, mean subtracted)
    top1: float | None  # ImageNet top-1 accuracy of the Keras weights (Keras docs); None if none
    depth: int | None  # depth as listed in the Keras applications table
    family: str
    blurb: str
    pretrained: bool = True  # Keras has ImageNet weights for it (GoogLeNet: built here, random weights only)


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo("vgg16", "VGG-16", 2014, "Simonyan & Zisserman, Very Deep Convolutional Networks", 224, "caffe",
                  0.713, 16, "VGG", "13 stacked 3x3 convolutions and 3 dense layers: simple, deep, and huge."),
        ModelInfo("vgg19", "VGG-19", 2014, "Simonyan & Zisserman, Very Deep Convolutional Networks", 224, "caffe",
                  0.713, 19, "VGG", "VGG-16 with three more 3x3 convolutions."),
        ModelInfo("googlenet", "GoogLeNet (Inception v1)", 2014, "Szegedy et al., Going Deeper with Convolutions",
                  224, "tf", None, 22, "Inception",
                  "Inception blocks run 1x1, 3x3, 5x5 and pooling in parallel; two auxiliary classifiers help "
                  "gradients reach the early layers. Built by CNN Explorer, no pretrained weights.", pretrained=False),
        ModelInfo("resnet50", "ResNet-50", 2015, "He et al., Deep Residual Learning for Image Recognition", 224,
                  "caffe", 0.749, 107, "ResNet", "Bottleneck residual blocks: each learns F(x) and adds x back."),
        ModelInfo("mobilenet", "MobileNet", 2017, "Howard et al., MobileNets", 224, "tf", 0.704, 55, "MobileNet",
                  "Depthwise-separable convolutions: a fraction of the compute, for phones."),
        ModelInfo("mobilenet_v2", "MobileNetV2", 2018, "Sandler et al., MobileNetV2: Inverted Residuals", 224, "tf",
                  0.713, 105, "MobileNet", "Inverted residual blocks with linear bottlenecks."),
        ModelInfo("inception_v3", "Inception-v3", 2015, "Szegedy et al., Rethinking the Inception Architecture", 299,
                  "tf", 0.779, 189, "Inception", "Factorised Inception blocks (1x7 then 7x1) and label smoothing."),
        ModelInfo("inception_resnet_v2", "Inception-ResNet-v2", 2016, "Szegedy et al., Inception-v4, "
                  "Inception-ResNet", 299, "tf", 0.803, 449, "Inception-ResNet",
                  "Inception blocks whose output is added to their input: both ideas at once."),
    ]
}

MODEL_NAMES = tuple(MODELS)


@dataclass(frozen=True)
class Variant:
    """One loadable configuration of a zoo model: what the model pickers and the transfer backbones list."""

    key: str
    model: str  # a key of MODELS
    title: str
    alpha: float | None = None  # MobileNet width
    size: int | None = None  # input side; None: the model's own

    @property
    def info(self) -> ModelInfo:
        return MODELS[self.model]

    @property
    def pretrained(self) -> bool:
        return self.info.pretrained

    @property
    def side(self) -> int:
        return self.size or self.info.input_size

    def kwargs(self, include_top: bool = True) -> dict:
        """Arguments for :func:`load_model`: the classifier, or (``include_top=False``) an average-pooled
        backbone at a fixed input size for transfer learning."""
        out = {} if self.alpha is None else {"alpha": self.alpha}
        if self.size is not None or not include_top:
            out["input_shape"] = (self.side, self.side, 3)
        if not include_top:
            out.update(include_top=False, pooling="avg")
        return out

    def load(self, include_top: bool = True, weights: str | None = "imagenet") -> keras.Model:
        """:func:`load_model` of this configuration (see :meth:`kwargs`)."""
        return load_model(self.model, weights=weights, **self.kwargs(include_top))

    def weights_available(self, include_top: bool = True) -> bool:
        return self.pretrained and weights_available(self.model, **self.kwargs(include_top))

    def weights_bundled(self, include_top: bool = True) -> bool:
        """Whether its ImageNet weights come from the model bundled with CNN Explorer (none in the cache)."""
        return self.pretrained and weights_source(self.model, **self.kwargs(include_top)) == "bundled"


#: Every model configuration the app offers, zoo models first, then the smaller MobileNets (the one
#: place they are listed).
VARIANTS: dict[str, Variant] = {v.key: v for v in [
    *(Variant(name, name, info.title) for name, info in MODELS.items()),
    Variant("mobilenet_0.75", "mobilenet", "MobileNet, alpha 0.75 (192 px)", 0.75, 192),
    Variant("mobilenet_0.25", "mobilenet", "MobileNet, alpha 0.25 (128 px, fastest)", 0.25, 128),
]}

_APPS = {
    "vgg16": "VGG16",
    "vgg19": "VGG19",
    "resnet50": "ResNet50",
    "mobilenet": "MobileNet",
    "mobilenet_v2": "MobileNetV2",
    "inception_v3": "InceptionV3",
    "inception_resnet_v2": "InceptionResNetV2",
}


def variant(key: str) -> Variant:
    try:
        return VARIANTS[key]
    except KeyError:
        raise ValueError(f"Unknown model '{key}'. Choose one of: {', '.join(VARIANTS)}.") from None


def model_info(name: str) -> ModelInfo:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model '{name}'. Choose one of: {', '.join(MODEL_NAMES)}.") from None


def _input_shape(name: str, kwargs: dict) -> tuple:
    shape = kwargs.get("input_shape")
    if shape is None:
        if kwargs.get("include_top", True):
            size = MODELS[name].input_size
            shape = (size, size, 3)
        else:
            shape = (None, None, 3)
    return tuple(shape)


def _rows(name: str, shape: tuple) -> int:
    return int(shape[0]) if shape[0] is not None else MODELS[name].input_size


def weights_file_for(name: str, **kwargs) -> str | None:
    """The Keras cache file holding this configuration's ImageNet weights (None for googlenet)."""
    model_info(name)
    shape = _input_shape(name, kwargs)
    return _weights.weight_file(name, kwargs.get("include_top", True), kwargs.get("alpha", 1.0), _rows(name, shape))


def weights_source(name: str, **kwargs) -> str | None:
    """Where this configuration's ImageNet weights come from: ``"cache"`` (the Keras cache), ``"bundled"``
    (the MobileNetV2 shipped in ``assets/models``) or None (not on this computer)."""
    model_info(name)
    shape = _input_shape(name, kwargs)
    return _weights.source(name, kwargs.get("include_top", True), kwargs.get("alpha", 1.0), _rows(name, shape))


def weights_available(name: str, **kwargs) -> bool:
    """Whether ImageNet weights for this configuration are on this computer (Keras cache or bundled)."""
    return weights_source(name, **kwargs) is not None


def pretrained_here() -> list[str]:
    """Keys of :data:`VARIANTS` whose ImageNet classifier weights are on this computer, in registry order:
    the networks "every network here" means (the Ideal class image page's default painters)."""
    return [key for key, v in VARIANTS.items() if v.weights_available()]


def load_model(name: str, weights: str | None = "imagenet", allow_download: bool = True, **kwargs) -> keras.Model:
    """Build a zoo model that takes RGB pixels 0..255 (preprocessing inside).

    ``weights``: ``"imagenet"`` (from the Keras cache, downloaded if online), ``None`` (random init) or
    a path to a weights file. kwargs go to the Keras constructor (``alpha``, ``input_shape``,
    ``include_top``, ``pooling``, ``classes``...). ``googlenet`` has no ImageNet weights and returns
    three outputs ``[main, aux1, aux2]``.

    Raises :class:`explorer.WeightsUnavailable` (with the file name and how to get it) when ImageNet
    weights are missing and cannot be downloaded.
    """
    info = model_info(name)
    include_top = kwargs.get("include_top", True)
    if not info.pretrained:
        if weights not in (None, "imagenet") and not Path(str(weights)).is_file():
            raise ValueError(f"No weights file at '{weights}'.")
        if weights == "imagenet":
            raise _weights.WeightsUnavailable(
                "GoogLeNet is built by CNN Explorer from the paper; no ImageNet weights exist for it in Keras. "
                "Load it with weights=None (random initialisation) to explore its structure.")
        shape = kwargs.pop("input_shape", None) or ((224, 224, 3) if include_top else (None, None, 3))
        model = GoogLeNet(input_shape=shape, **kwargs)
        if weights is not None:
            model.load_weights(weights)
        _label(model, name, None if weights is None else str(weights))
        return model

    shape = _input_shape(name, kwargs)
    kwargs["input_shape"] = shape
    weights_arg = weights
    label = None if weights is None else str(weights)
    derive_from = None
    if weights == "imagenet":
        path = _weights.ensure(name, include_top, kwargs.get("alpha", 1.0), _rows(name, shape), allow_download)
        weights_arg = str(path)
        label = f"ImageNet ({path.name})"
        if _weights.is_bundled(path):
            label = f"ImageNet, {_weights.BUNDLED_NOTE} (assets/models/{path.name})"
            if not include_top:  # the one bundled file has the top: the backbone's layers are copied from it
                derive_from, weights_arg = path, None
    pixels = keras.Input(shape, name="pixels")
    x = ImageNetPreprocess(info.preprocess, name="preprocess")(pixels)
    app = getattr(keras.applications, _APPS[name])
    app_model = app(weights=weights_arg, input_tensor=x, **kwargs)
    if derive_from is not None:
        _copy_backbone(app, derive_from, app_model, kwargs)
    # Re-wrap with a single (non-list) input so model(batch) works without Keras' input-structure warning.
    model = keras.Model(pixels, app_model.output, name=app_model.name)
    _label(model, name, label)
    return model


def _copy_backbone(app, path, backbone: keras.Model, kwargs: dict) -> None:
    """Give a no-top backbone the weights of the full model stored in ``path`` (layers matched by name)."""
    full_kwargs = {k: v for k, v in kwargs.items() if k not in ("include_top", "pooling", "input_shape", "classes")}
    full = app(weights=str(path), include_top=True, input_shape=(224, 224, 3), **full_kwargs)
    for layer in backbone.layers:
        if layer.weights:
            layer.set_weights(full.get_layer(layer.name).get_weights())


def _label(model: keras.Model, name: str, weights: str | None) -> None:
    describe(model, name=name, weights=weights or "random (untrained)")
