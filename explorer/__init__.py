"""CNN Explorer: the great image CNNs, opened up. Model, data and optimisation code (no UI).

Every model here takes RGB pixels in 0..255; preprocessing lives inside the graph.
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .datasets import DatasetError, load_dataset  # noqa: E402
from .images import ImageError, load_image  # noqa: E402
from .imagenet import (  # noqa: E402
    CAT_CLASSES,
    DOG_CLASSES,
    SIAMESE_CAT,
    TABBY,
    ZEBRA,
    class_index,
    class_name,
    class_names,
    decode,
    is_cat,
    is_dog,
)
from .transfer import TransferResult, train_classifier  # noqa: E402
from .weights import WeightsUnavailable  # noqa: E402
from .zoo import MODEL_NAMES, MODELS, input_size, load_model, model_info, weights_available, weights_label  # noqa: E402

__all__ = [
    "CAT_CLASSES", "DOG_CLASSES", "SIAMESE_CAT", "TABBY", "ZEBRA", "ImageError", "MODEL_NAMES", "MODELS",
    "WeightsUnavailable", "class_index", "class_name", "class_names", "decode", "input_size", "is_cat", "is_dog",
    "load_image", "load_model", "model_info", "weights_available", "weights_label",
    "DatasetError", "TransferResult", "load_dataset", "train_classifier",
]
