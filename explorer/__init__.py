"""CNN Explorer: the great image CNNs, opened up. Model, data and optimisation code (no UI).

Every model here takes RGB pixels in 0..255; preprocessing lives inside the graph.

Names are imported lazily (PEP 562): ``import explorer`` is instant and TensorFlow loads only when a
name that needs it is first used, so ``python -m explorer.weights list`` answers at once.
"""

from __future__ import annotations

import importlib
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# public name -> submodule that defines it
_EXPORTS = {
    # models and weights (issue A)
    "load_model": "zoo", "model_info": "zoo", "weights_available": "zoo", "MODEL_NAMES": "zoo", "MODELS": "zoo",
    "VARIANTS": "zoo",
    # what a classifier is: size, classes, names, metadata and the one predict geometry (issue 11)
    "input_size": "classifier", "num_classes": "classifier", "class_names_of": "classifier",
    "predict": "classifier", "shared_predict": "classifier", "top_k": "classifier", "metadata": "classifier",
    "describe": "classifier",
    "weights_label": "classifier",
    "WeightsUnavailable": "weights",
    "LayerGraph": "graph", "collapse": "graph", "layer_graph": "graph", "layer_table": "graph", "layout": "graph",
    # images and ImageNet classes
    "ImageError": "images", "load_image": "images",
    "CAT_CLASSES": "imagenet", "DOG_CLASSES": "imagenet", "SIAMESE_CAT": "imagenet", "TABBY": "imagenet",
    "ZEBRA": "imagenet", "class_index": "imagenet", "class_name": "imagenet", "class_names": "imagenet",
    "decode": "imagenet", "is_cat": "imagenet", "is_dog": "imagenet",
    # feature maps (issue B)
    "feature_maps": "features",
    # transfer learning (issue C)
    "DatasetError": "datasets", "load_dataset": "datasets",
    "TransferResult": "transfer", "train_classifier": "transfer",
    # ideal class images and adversarial examples (issue D)
    "IdealImage": "optvis", "ideal_image": "optvis",
    "AdversarialResult": "attacks", "adversarial": "attacks",
    # classroom reliability (issue E)
    "CancelToken": "runtime", "Cancelled": "runtime", "Diverged": "runtime", "heavy_work": "runtime",
    "ModelFileError": "user_models", "load_user_model": "user_models",
    # deeper lessons (issue H / 10)
    "grad_cam": "gradcam", "receptive_field": "receptive", "receptive_fields": "receptive",
    "ReceptiveField": "receptive", "conv_by_hand": "by_hand", "ConvByHand": "by_hand",
    "epsilon_sweep": "ensemble",
    # a whole class on one server (issue 12): identical runs shared, distinct runs batched
    "Scheduler": "scheduler", "paint": "scheduler", "default_scheduler": "scheduler",
    "SharedRuns": "shared_runs", "run_key": "shared_runs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        try:  # a submodule, e.g. explorer.weights
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError:
            raise AttributeError(f"module 'explorer' has no attribute '{name}'") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
