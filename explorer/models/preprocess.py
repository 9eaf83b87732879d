"""Each model's ImageNet preprocessing as a Keras layer, so models take RGB pixels in 0..255.

Keeping preprocessing inside the graph means gradients reach the pixels: ideal images and adversarial
examples are optimised in pixel space, and an epsilon of 1 means one pixel level.
"""

from __future__ import annotations

import keras
from keras import ops

# Mean pixel of ImageNet in BGR order, as used by the Caffe-trained VGG and ResNet weights.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
MODES = ("tf", "caffe", "torch")


@keras.saving.register_keras_serializable(package="explorer")
class ImageNetPreprocess(keras.layers.Layer):
    """RGB 0..255 -> what the pretrained weights expect.

    ``tf``: scale to -1..1 (MobileNet, Inception). ``caffe``: RGB->BGR and subtract the mean pixel
    (VGG, ResNet). ``torch``: scale to 0..1 and normalise per channel.
    """

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)
            return x - ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=x.dtype)
        x = x / 255.0
        mean = ops.convert_to_tensor(TORCH_MEAN, dtype=x.dtype)
        std = ops.convert_to_tensor(TORCH_STD, dtype=x.dtype)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
