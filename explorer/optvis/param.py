"""Image parameterisations: what the optimiser actually changes to paint an image.

A parameterisation turns raw trainable numbers into an RGB image in pixels 0..255 (the convention of
every model here). ``pixels`` optimises the pixels themselves, as in the lesson: simple, but gradient
ascent then fills the image with high-frequency noise. ``fourier`` (Lucid, Olah et al. 2017,
*Feature Visualization*) optimises a Fourier spectrum scaled by 1/frequency in decorrelated colour
space, so every step changes the image smoothly and in natural colours: far more natural pictures
in the same number of steps.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Square root of the colour correlation of ImageNet photos (Lucid): maps decorrelated -> RGB.
COLOR_CORRELATION_SVD_SQRT = np.asarray([[0.26, 0.09, 0.02],
                                         [0.27, 0.00, -0.05],
                                         [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOR_MATRIX = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))

NAMES = ("pixels", "fourier")


class Pixels:
    """The image is the parameter: pixels 0..255, started from noise around mid-grey, clipped each step."""

    name = "pixels"

    def __init__(self, height: int, width: int, noise: float = 20.0):
        self.shape = (1, int(height), int(width), 3)
        self.noise = float(noise)

    def init(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return np.clip(127.5 + self.noise * rng.standard_normal(self.shape), 0, 255).astype(np.float32)

    def to_image(self, raw: tf.Tensor) -> tf.Tensor:
        return raw

    def to_images(self, raws: tf.Tensor) -> tf.Tensor:
        """Images of a stack of raw parameters ``(runs,) + shape`` -> ``(runs, h, w, 3)``."""
        return tf.reshape(raws, (-1,) + self.shape[1:])

    def project(self, raw: tf.Tensor) -> tf.Tensor:
        """Keep the parameter a valid image after an update."""
        return tf.clip_by_value(raw, 0.0, 255.0)


class Fourier:
    """Lucid's decorrelated-colour Fourier parameterisation, squashed to 0..255 with a sigmoid.

    The raw parameter is the real and imaginary part of an ``rfft2d`` spectrum per decorrelated colour
    channel; each frequency is scaled by ``1 / max(f, 1/size) ** decay`` so low frequencies dominate.
    """

    name = "fourier"

    def __init__(self, height: int, width: int, sd: float = 0.01, decay: float = 1.0):
        self.height, self.width = int(height), int(width)
        fy = np.fft.fftfreq(self.height)[:, None]
        fx = np.fft.rfftfreq(self.width)[None, :]
        freqs = np.sqrt(fx * fx + fy * fy)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(self.height, self.width)) ** decay
        self.scale = (scale * np.sqrt(self.height * self.width)).astype(np.float32)
        self.shape = (2, 3) + freqs.shape
        self.sd = float(sd)

    def init(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return (self.sd * rng.standard_normal(self.shape)).astype(np.float32)

    def to_image(self, raw: tf.Tensor) -> tf.Tensor:
        return self.to_images(raw[None])

    def to_images(self, raws: tf.Tensor) -> tf.Tensor:
        """Images of a stack of raw spectra ``(runs, 2, 3, h, w//2+1)`` -> ``(runs, h, w, 3)``."""
        real, imaginary = tf.unstack(raws, axis=1)  # (slicing's gradient costs 5% of a batched step)
        spectrum = tf.complex(real * self.scale, imaginary * self.scale)
        channels = tf.signal.irfft2d(spectrum, fft_length=[self.height, self.width])  # (runs, 3, h, w)
        decorrelated = tf.transpose(channels, (0, 2, 3, 1)) / 4.0
        rgb = tf.tensordot(decorrelated, tf.constant(_COLOR_MATRIX.T), axes=1)
        return 255.0 * tf.sigmoid(rgb)

    def project(self, raw: tf.Tensor) -> tf.Tensor:
        return raw


def parameterisation(name: str, height: int, width: int):
    """A parameterisation by name: ``'pixels'`` or ``'fourier'``."""
    if name == "pixels":
        return Pixels(height, width)
    if name == "fourier":
        return Fourier(height, width)
    raise ValueError(f"Unknown parameterisation '{name}'. Choose one of: {', '.join(NAMES)}.")
