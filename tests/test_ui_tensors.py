"""Channel pictures: strongest channels first, NaN-safe scaling, one strip per tensor."""

import numpy as np

from ui.tensors import channel_image, channel_strip, top_channels


def test_channels_are_ranked_scaled_and_stripped():
    t = np.zeros((1, 4, 3, 4), dtype=np.float32)
    t[..., 1] = 5.0 * np.arange(12).reshape(4, 3)
    t[..., 3] = -1.0
    t[0, 0, 0, 2] = np.nan  # a NaN must not crash or poison the scale
    assert top_channels(t, 2) == [1, 3]
    img = channel_image(t, 1)
    assert img.dtype == np.uint8 and img.min() == 0 and img.max() == 255 and img[3, 2] == 255
    assert channel_image(t, 3).max() == 0  # a constant channel is black, not a division by zero
    assert channel_image(t, 2).max() == 0
    strip = channel_strip(t, [1, 3, 0], gap=2)
    assert strip.shape == (4, 3 * 3 + 2 * 2) and (strip[:, 3:5] == 255).all()
