"""Receptive fields from the layer graph, checked against values worked out by hand."""

import keras
import pytest

import explorer
from explorer.inspect.receptive import receptive_field, receptive_fields


@pytest.fixture(scope="module")
def vgg16():
    return explorer.load_model("vgg16", weights=None)


@pytest.fixture(scope="module")
def resnet50():
    return explorer.load_model("resnet50", weights=None)


# VGG16: 3x3 'same' convolutions with stride 1 grow the field by 2 * (pixels between neighbours), 2x2
# max-pools with stride 2 grow it by 1 * that spacing and double the spacing.
#   block1: 1 -> 3 -> 5 (conv1_1, conv1_2), pool -> 6, spacing 2
#   block2: 6 + 4 + 4 = 14, pool -> 16, spacing 4
#   block3: 16 + 3 * 8 = 40, pool -> 44, spacing 8
#   block4: 44 + 3 * 16 = 92, pool -> 100, spacing 16
#   block5: 100 + 3 * 32 = 196, pool -> 212, spacing 32
VGG16 = {"block1_conv1": 3, "block1_conv2": 5, "block1_pool": 6, "block2_pool": 16, "block3_pool": 44,
         "block4_pool": 100, "block5_conv3": 196, "block5_pool": 212}

# ResNet50 (Keras: stride on each stage's first 1x1 conv, the shortcut 1x1 conv has the same stride):
#   conv1 7x7 stride 2: 7, spacing 2; pool1 3x3 stride 2: 7 + 2 * 2 = 11, spacing 4
#   each bottleneck block adds one 3x3 conv: 2 * spacing; 1x1 convs (and the shortcut) add nothing
#   conv2 (3 blocks, spacing 4): 11 + 3 * 8 = 35
#   conv3 (4 blocks, spacing 8): 35 + 4 * 16 = 99
#   conv4 (6 blocks, spacing 16): 99 + 6 * 32 = 291
#   conv5 (3 blocks, spacing 32): 291 + 3 * 64 = 483
RESNET50 = {"conv1_conv": (7, 2), "pool1_pool": (11, 4), "conv2_block1_out": (19, 4), "conv2_block3_out": (35, 4),
            "conv3_block1_out": (51, 8), "conv3_block4_out": (99, 8), "conv4_block6_out": (291, 16),
            "conv5_block3_out": (483, 32)}


@pytest.mark.parametrize("layer,size", VGG16.items())
def test_vgg16_by_hand(vgg16, layer, size):
    field = receptive_field(vgg16, layer)
    assert field.size == (size, size)


def test_vgg16_boxes(vgg16):
    conv = receptive_field(vgg16, "block1_conv1")
    assert conv.box(0, 0, clip=False) == (-1, -1, 2, 2)  # 'same' padding: one pixel of zeros above and left
    assert conv.box(0, 0) == (0, 0, 2, 2)
    assert conv.box(10, 20) == (9, 19, 12, 22)
    pool5 = receptive_field(vgg16, "block5_pool")
    assert pool5.stride == (32, 32) and pool5.output_size == (7, 7)
    # centred on its 32x32 block: position 3 (the middle) sees pixels 6..217, the centre pixel 111.5
    top, left, bottom, right = pool5.box(3, 3, clip=False)
    assert (top + bottom - 1) / 2 == 111.5 and bottom - top == 212
    assert pool5.box(3, 3) == (6, 6, 218, 218)
    with pytest.raises(ValueError, match="outside"):
        pool5.box(7, 0)


@pytest.mark.parametrize("layer,expected", RESNET50.items())
def test_resnet50_stages_by_hand(resnet50, layer, expected):
    size, stride = expected
    field = receptive_field(resnet50, layer)
    assert field.size == (size, size) and field.stride == (stride, stride)


def test_resnet50_fields_are_centred(resnet50):
    # conv1_pad adds 3 pixels; the 7x7 window of position 0 is centred on pixel 0, and so on up the stages
    for layer in ("conv1_conv", "conv5_block3_out"):
        field = receptive_field(resnet50, layer)
        assert field.offset[0] == -(field.size[0] - 1) // 2


def test_branches_take_the_union_and_dilations_count():
    inputs = keras.Input((32, 32, 3))
    a = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 3
    b = keras.layers.Conv2D(4, 3, padding="same", dilation_rate=3)(inputs)  # 1 + 3 * 2 = 7
    b = keras.layers.Conv2D(4, (1, 5), padding="same")(b)  # 7 rows, 7 + 4 = 11 columns
    merged = keras.layers.Concatenate(name="merged")([a, b])
    pooled = keras.layers.MaxPooling2D(2)(merged)  # + 1: 8 x 12, spacing 2
    inner = keras.Model(inputs, pooled, name="backbone")
    pixels = keras.Input((32, 32, 3))
    x = inner(pixels)  # a classifier with its backbone nested inside
    x = keras.layers.Conv2D(2, 3, name="last_conv")(x)  # valid: + 2 * 2 -> 12 x 16
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(pixels, outputs)
    fields = receptive_fields(model)
    assert fields["merged"].size == (7, 11) and fields["merged"].offset == (-3, -5)
    assert fields["last_conv"].size == (12, 16) and fields["last_conv"].stride == (2, 2)
    assert fields["last_conv"].output_size == (14, 14)
    assert not any(n.startswith("global") or n.startswith("dense") for n in fields)


def test_unknown_layer_is_refused(vgg16):
    with pytest.raises(ValueError, match="no spatial output"):
        receptive_field(vgg16, "predictions")
