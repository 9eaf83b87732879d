"""The building blocks of the great CNNs, as plain Keras functional builders.

- :func:`inception_block`: GoogLeNet's four parallel branches concatenated on channels.
- :func:`residual_block`: ResNet's ``relu(F(x) + x)``, basic or bottleneck, identity or projection.
- :func:`inception_resnet_a`: Inception-ResNet-v2's block A, both ideas at once.
- :func:`plain_stack` / :func:`residual_stack` and :func:`gradient_norms`: why skip connections keep
  gradients alive in deep networks.

Each ``*_model`` function wraps a block in a small model whose outputs are the tensors inside it, so
a page can show every intermediate tensor for a real photo.
"""

from __future__ import annotations

import re

import numpy as np
import keras
from keras import layers

# GoogLeNet inception 3a (Szegedy et al. 2014, table 1): 192 channels in, 256 out.
INCEPTION_3A = dict(filters_1x1=64, filters_3x3_reduce=96, filters_3x3=128,
                    filters_5x5_reduce=16, filters_5x5=32, filters_pool_proj=32)


def _seed(seed):
    if seed is not None:
        keras.utils.set_random_seed(seed)


def conv(x, filters, kernel, strides=1, name=None, activation="relu", padding="same"):
    return layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation, name=name)(x)


def inception_branches(x, filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce, filters_5x5,
                       filters_pool_proj, name="inception"):
    """The four branch outputs of an Inception block, before concatenation."""
    b1 = conv(x, filters_1x1, 1, name=f"{name}_1x1")
    b2 = conv(x, filters_3x3_reduce, 1, name=f"{name}_3x3_reduce")
    b2 = conv(b2, filters_3x3, 3, name=f"{name}_3x3")
    b3 = conv(x, filters_5x5_reduce, 1, name=f"{name}_5x5_reduce")
    b3 = conv(b3, filters_5x5, 5, name=f"{name}_5x5")
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b4 = conv(b4, filters_pool_proj, 1, name=f"{name}_pool_proj")
    return b1, b2, b3, b4


def inception_block(x, filters_1x1=64, filters_3x3_reduce=96, filters_3x3=128, filters_5x5_reduce=16,
                    filters_5x5=32, filters_pool_proj=32, name="inception_3a"):
    """GoogLeNet Inception block: 1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1, concatenated on channels."""
    branches = inception_branches(x, filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce,
                                  filters_5x5, filters_pool_proj, name=name)
    return layers.Concatenate(axis=-1, name=f"{name}_output")(list(branches))


def inception_block_model(input_shape=(28, 28, 192), name="inception_3a", seed=None, **widths) -> keras.Model:
    """One Inception block as a model; outputs a dict of every branch tensor and the concatenation.

    ``seed`` makes the random weights reproducible (the same block for the same widths)."""
    _seed(seed)
    widths = {**INCEPTION_3A, **widths}
    inputs = keras.Input(input_shape, name=f"{name}_input")
    b1, b2, b3, b4 = inception_branches(inputs, name=name, **widths)
    out = layers.Concatenate(axis=-1, name=f"{name}_output")([b1, b2, b3, b4])
    outputs = {"1x1": b1, "1x1 -> 3x3": b2, "1x1 -> 5x5": b3, "pool -> 1x1": b4, "concatenated": out}
    return keras.Model(inputs, outputs, name=name)


def conv_params(in_channels: int, out_channels: int, kernel: int) -> int:
    """Parameters of a Conv2D with bias: k*k*in*out + out."""
    return kernel * kernel * in_channels * out_channels + out_channels


def bn_params(channels: int) -> int:
    """Parameters of a BatchNormalization: gamma, beta and the two moving statistics per channel."""
    return 4 * channels


def inception_params(in_channels, filters_1x1=64, filters_3x3_reduce=96, filters_3x3=128, filters_5x5_reduce=16,
                     filters_5x5=32, filters_pool_proj=32) -> dict[str, int]:
    """Parameter count per branch of an Inception block, computed by hand (no Keras)."""
    p = {
        "1x1": conv_params(in_channels, filters_1x1, 1),
        "1x1 -> 3x3": conv_params(in_channels, filters_3x3_reduce, 1) + conv_params(filters_3x3_reduce, filters_3x3, 3),
        "1x1 -> 5x5": conv_params(in_channels, filters_5x5_reduce, 1) + conv_params(filters_5x5_reduce, filters_5x5, 5),
        "pool -> 1x1": conv_params(in_channels, filters_pool_proj, 1),
    }
    p["total"] = sum(p.values())
    return p


def naive_params(in_channels, filters_1x1=64, filters_3x3_reduce=96, filters_3x3=128, filters_5x5_reduce=16,
                 filters_5x5=32, filters_pool_proj=32) -> dict[str, int]:
    """What the same block would cost without 1x1 reductions, and as one 5x5 conv of the same output width."""
    out = filters_1x1 + filters_3x3 + filters_5x5 + filters_pool_proj
    return {
        "naive inception (no 1x1 reductions)": conv_params(in_channels, filters_1x1, 1)
        + conv_params(in_channels, filters_3x3, 3) + conv_params(in_channels, filters_5x5, 5),
        f"single 5x5 conv, {out} channels": conv_params(in_channels, out, 5),
    }


# --- Residual blocks --------------------------------------------------------------------------------

def residual_branches(x, filters, kind="basic", stride=1, projection=None, name="res"):
    """Return (shortcut, F(x)) for a residual block.

    ``kind``: ``basic`` (3x3, 3x3; ResNet-18/34) or ``bottleneck`` (1x1, 3x3, 1x1 with 4x expansion;
    ResNet-50). ``projection``: None picks a 1x1 conv shortcut only when the shape changes; True or
    False forces it.
    """
    if kind not in ("basic", "bottleneck"):
        raise ValueError("kind must be 'basic' or 'bottleneck'")
    out_channels = filters if kind == "basic" else 4 * filters
    if projection is None:
        projection = stride != 1 or x.shape[-1] != out_channels
    if projection:
        shortcut = layers.Conv2D(out_channels, 1, strides=stride, name=f"{name}_shortcut_conv")(x)
        shortcut = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_shortcut_bn")(shortcut)
    else:
        if stride != 1 or x.shape[-1] != out_channels:
            raise ValueError("An identity shortcut needs stride 1 and as many input as output channels; "
                             "use a projection shortcut.")
        shortcut = x
    if kind == "basic":
        f = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_1_conv")(x)
        f = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_1_bn")(f)
        f = layers.Activation("relu", name=f"{name}_1_relu")(f)
        f = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(f)
        f = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_2_bn")(f)
    else:
        f = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
        f = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_1_bn")(f)
        f = layers.Activation("relu", name=f"{name}_1_relu")(f)
        f = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(f)
        f = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_2_bn")(f)
        f = layers.Activation("relu", name=f"{name}_2_relu")(f)
        f = layers.Conv2D(out_channels, 1, name=f"{name}_3_conv")(f)
        f = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_3_bn")(f)
    return shortcut, f


def residual_block(x, filters, kind="basic", stride=1, projection=None, name="res"):
    """ResNet block: ``relu(F(x) + shortcut(x))``."""
    shortcut, f = residual_branches(x, filters, kind, stride, projection, name)
    out = layers.Add(name=f"{name}_add")([shortcut, f])
    return layers.Activation("relu", name=f"{name}_out")(out)


def residual_block_model(input_shape=(56, 56, 64), filters=64, kind="basic", stride=1, projection=None,
                         name="res", seed=None) -> keras.Model:
    """One residual block; outputs x (the shortcut), F(x), F(x)+x and relu(F(x)+x)."""
    _seed(seed)
    inputs = keras.Input(input_shape, name=f"{name}_input")
    shortcut, f = residual_branches(inputs, filters, kind, stride, projection, name)
    added = layers.Add(name=f"{name}_add")([shortcut, f])
    out = layers.Activation("relu", name=f"{name}_out")(added)
    return keras.Model(inputs, {"x (shortcut)": shortcut, "F(x)": f, "F(x) + x": added, "relu(F(x) + x)": out},
                       name=name)


def residual_params(in_channels: int, filters: int, kind: str = "basic", projection: bool = False) -> dict[str, int]:
    """Parameters of a residual block computed by hand (convs with bias, :func:`bn_params`)."""
    bn = bn_params
    out = filters if kind == "basic" else 4 * filters
    if kind == "basic":
        f = conv_params(in_channels, filters, 3) + bn(filters) + conv_params(filters, filters, 3) + bn(filters)
    else:
        f = (conv_params(in_channels, filters, 1) + bn(filters) + conv_params(filters, filters, 3) + bn(filters)
             + conv_params(filters, out, 1) + bn(out))
    shortcut = conv_params(in_channels, out, 1) + bn(out) if projection else 0
    return {"F(x)": f, "shortcut": shortcut, "total": f + shortcut}


def stem_model(channels: int = 64, input_shape=(224, 224, 3), seed: int = 0, name: str = "stem") -> keras.Model:
    """A small stem with random weights, pixels 0..255 in: conv 7x7/2 -> maxpool 3x3/2 -> conv 1x1 to
    ``channels``. It turns a photo into the many-channel tensor (H/4 x W/4) that a block expects."""
    from .preprocess import ImageNetPreprocess

    _seed(seed)
    inputs = keras.Input(input_shape, name="pixels")
    x = ImageNetPreprocess("tf", name="preprocess")(inputs)
    x = conv(x, 64, 7, strides=2, name=f"{name}_conv7x7")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    x = conv(x, channels, 1, name=f"{name}_conv1x1")
    return keras.Model(inputs, x, name=name)


# --- Inception-ResNet ----------------------------------------------------------------------------------

def inception_resnet_a_branches(x, scale=0.17, name="block35"):
    """Inception-ResNet-v2 block A (35x35): three Inception branches, a 1x1 linear mix, scaled, + x."""
    channels = x.shape[-1]
    b0 = conv(x, 32, 1, name=f"{name}_branch_0")
    b1 = conv(x, 32, 1, name=f"{name}_branch_1_1x1")
    b1 = conv(b1, 32, 3, name=f"{name}_branch_1_3x3")
    b2 = conv(x, 32, 1, name=f"{name}_branch_2_1x1")
    b2 = conv(b2, 48, 3, name=f"{name}_branch_2_3x3a")
    b2 = conv(b2, 64, 3, name=f"{name}_branch_2_3x3b")
    mixed = layers.Concatenate(name=f"{name}_mixed")([b0, b1, b2])
    up = conv(mixed, channels, 1, activation=None, name=f"{name}_conv")
    scaled = layers.Rescaling(scale, name=f"{name}_scale")(up)
    return (b0, b1, b2, mixed, scaled)


def inception_resnet_a(x, scale=0.17, name="block35"):
    *_, scaled = inception_resnet_a_branches(x, scale, name)
    added = layers.Add(name=f"{name}_add")([x, scaled])
    return layers.Activation("relu", name=f"{name}_ac")(added)


def inception_resnet_a_params(in_channels: int = 320) -> dict[str, int]:
    """Parameters of :func:`inception_resnet_a` computed by hand (convs with bias)."""
    p = {
        "branch 1x1": conv_params(in_channels, 32, 1),
        "branch 1x1 -> 3x3": conv_params(in_channels, 32, 1) + conv_params(32, 32, 3),
        "branch 1x1 -> 3x3 -> 3x3": conv_params(in_channels, 32, 1) + conv_params(32, 48, 3) + conv_params(48, 64, 3),
        "1x1 linear back to the input width": conv_params(32 + 32 + 64, in_channels, 1),
    }
    p["total"] = sum(p.values())
    return p


def inception_resnet_a_model(input_shape=(35, 35, 320), scale=0.17, name="block35", seed=None) -> keras.Model:
    """Inception-ResNet-v2 block A as a model; outputs every branch, the scaled F(x) and relu(x + scale F(x))."""
    _seed(seed)
    inputs = keras.Input(input_shape, name=f"{name}_input")
    b0, b1, b2, mixed, scaled = inception_resnet_a_branches(inputs, scale, name)
    added = layers.Add(name=f"{name}_add")([inputs, scaled])
    out = layers.Activation("relu", name=f"{name}_ac")(added)
    return keras.Model(inputs, {"branch 1x1": b0, "branch 1x1 -> 3x3": b1, "branch 1x1 -> 3x3 -> 3x3": b2,
                                "concatenated": mixed, "F(x): 1x1 linear, scaled": scaled,
                                "relu(x + scale * F(x))": out}, name=name)


# --- Gradient flow: plain vs residual -----------------------------------------------------------------
# Three stacks of the same 3x3 convs, measured at initialisation (the first training step):
# - plain_stack(normalised=False): the pre-2015 recipe (Glorot init, no normalisation). Its gradient
#   vanishes layer after layer: this is the classic vanishing-gradient picture.
# - plain_stack(normalised=True): ResNet's recipe without the skips (He init, batch norm). The ResNet
#   paper notes these stacks no longer vanish; with ReLU their gradient *grows* with depth instead.
# - residual_stack: ResNet's recipe with the skips: He init, batch norm, and each block's last batch
#   norm starting at scale 0 ("zero-gamma", Goyal et al. 2017; He et al. 2019), so every block starts
#   as the identity and the gradient reaches the first layer at the size it left the last one.
# Each block's output is a layer named ``block{i}`` (the stem's is ``stem``): gradient_norms reads those.

def _he(seed):
    return keras.initializers.HeNormal(seed=seed)


def _stack(depth, width, input_shape, residual, num_classes, seed, activation, normalised):
    inputs = keras.Input(input_shape, name="input")
    if normalised or residual:
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=_he(seed), name="stem_conv")(inputs)
        x = layers.BatchNormalization(name="stem_bn")(x)
        x = layers.Activation(activation, name="stem")(x)
    else:
        x = layers.Conv2D(width, 3, padding="same", activation=activation, name="stem",
                          kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(inputs)
    for i in range(1, depth + 1):
        if residual:  # x + BN(conv(act(x))): the identity path is never squashed by an activation
            f = layers.Activation(activation, name=f"block{i}_act")(x)
            f = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=_he(seed + i),
                              name=f"block{i}_conv")(f)
            f = layers.BatchNormalization(gamma_initializer="zeros", name=f"block{i}_bn")(f)
            x = layers.Add(name=f"block{i}")([x, f])
        elif normalised:
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=_he(seed + i),
                              name=f"block{i}_conv")(x)
            x = layers.BatchNormalization(name=f"block{i}_bn")(x)
            x = layers.Activation(activation, name=f"block{i}")(x)
        else:
            x = layers.Conv2D(width, 3, padding="same", activation=activation, name=f"block{i}",
                              kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i))(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                           name="logits")(x)
    kind = "residual" if residual else "plain_bn" if normalised else "plain"
    return keras.Model(inputs, outputs, name=f"{kind}_{depth}")


def plain_stack(depth=20, width=16, input_shape=(32, 32, 3), num_classes=10, seed=0, activation="sigmoid",
                normalised=False):
    """``depth`` conv layers one after another. ``normalised=False``: Glorot init, no normalisation
    (the classic vanishing-gradient demo); ``True``: He init and batch norm, as in ResNet's plain nets."""
    return _stack(depth, width, input_shape, False, num_classes, seed, activation, normalised)


def residual_stack(depth=20, width=16, input_shape=(32, 32, 3), num_classes=10, seed=0, activation="sigmoid"):
    """The same conv layers built the way ResNet does (He init, batch norm), each wrapped as
    ``x + BN(conv(act(x)))`` with the batch norm's scale starting at 0."""
    return _stack(depth, width, input_shape, True, num_classes, seed, activation, True)


_BLOCK_OUTPUT = re.compile(r"^(stem|block\d+)$")


def gradient_norms(model: keras.Model, x=None, seed=0, wrt: str = "outputs") -> np.ndarray:
    """L2 norm of the loss gradient at each block of a stack, input to output, at the current weights.

    ``wrt="outputs"``: the gradient reaching each block's output (d loss / d activation; the stem's
    and each ``block{i}`` layer's), the quantity that vanishes in deep plain stacks. ``wrt="kernels"``:
    d loss / d kernel of each conv, the update its weights would get. The loss is cross-entropy
    against random labels on random inputs, with batch norm using the batch's statistics: what the
    first training step would back-propagate. (In :func:`residual_stack` the branch kernels get a
    zero gradient at this first step: their batch norm's scale starts at 0 and is what learns first.)
    """
    import tensorflow as tf

    if wrt not in ("outputs", "kernels"):
        raise ValueError("wrt must be 'outputs' or 'kernels'")
    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.normal(size=(8, *model.input_shape[1:])).astype("float32")
    y = rng.integers(0, model.output_shape[-1], size=len(x))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        tensors = replay(model, tf.convert_to_tensor(x), training=True)
        loss = loss_fn(y, tensors[model.layers[-1].name])
    if wrt == "kernels":
        sources = [layer.kernel for layer in model.layers if isinstance(layer, layers.Conv2D)]
    else:
        sources = [tensors[layer.name] for layer in model.layers if _BLOCK_OUTPUT.match(layer.name)]
    return np.array([float(tf.norm(g)) for g in tape.gradient(loss, sources)])


def replay(model: keras.Model, x, training: bool = False) -> dict:
    """Run a single-input functional model layer by layer; every layer's output tensor by name.

    The wiring comes from the model's public, serialised config (:func:`explorer.graph.layer_parents`),
    so intermediate tensors can be watched by a ``tf.GradientTape``."""
    from ..inspect.graph import layer_parents

    parents = layer_parents(model)
    tensors = {model.layers[0].name: x}
    for layer in model.layers[1:]:
        inputs = [tensors[p] for p in parents[layer.name]]
        tensors[layer.name] = layer(inputs if len(inputs) > 1 else inputs[0], training=training)
    return tensors


def gap_demo(model: keras.Model, sizes=((224, 224), (320, 480))) -> dict[tuple[int, int], tuple]:
    """Output shape of a fully-convolutional model with GlobalAveragePooling for several input sizes."""
    out = {}
    for h, w in sizes:
        x = np.zeros((1, h, w, 3), dtype="float32")
        y = model(x, training=False)
        y = y[0] if isinstance(y, (list, tuple)) else y
        out[(h, w)] = tuple(y.shape)
    return out
