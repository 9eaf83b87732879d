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
    "load_model": "models.zoo", "model_info": "models.zoo", "weights_available": "models.zoo",
    "MODEL_NAMES": "models.zoo", "MODELS": "models.zoo",
    "VARIANTS": "models.zoo",
    # what a classifier is: size, classes, names, metadata and the one predict geometry (issue 11)
    "input_size": "models.classifier", "num_classes": "models.classifier", "class_names_of": "models.classifier",
    "predict": "models.classifier", "shared_predict": "attacks.verdicts", "top_k": "models.classifier",
    "metadata": "models.classifier",
    "describe": "models.classifier",
    "weights_label": "models.classifier",
    "WeightsUnavailable": "weights",
    "LayerGraph": "inspect.graph", "collapse": "inspect.graph", "layer_graph": "inspect.graph",
    "layer_table": "inspect.graph", "layout": "inspect.graph",
    # images and ImageNet classes
    "ImageError": "data.images", "load_image": "data.images",
    "CAT_CLASSES": "data.imagenet", "DOG_CLASSES": "data.imagenet", "SIAMESE_CAT": "data.imagenet",
    "TABBY": "data.imagenet",
    "ZEBRA": "data.imagenet", "class_index": "data.imagenet", "class_name": "data.imagenet",
    "class_names": "data.imagenet",
    "decode": "data.imagenet", "is_cat": "data.imagenet", "is_dog": "data.imagenet",
    # feature maps (issue B)
    "feature_maps": "inspect.features",
    # transfer learning (issue C)
    "DatasetError": "data.datasets", "load_dataset": "data.datasets",
    "TransferResult": "transfer", "train_classifier": "transfer",
    # ideal class images and adversarial examples (issue D)
    "IdealImage": "optvis", "ideal_image": "optvis",
    "ensemble_classifier": "models.ensemble",  # several networks as one: what "every network here" paints for
    "AdversarialResult": "attacks.single", "adversarial": "attacks.ensemble",
    # classroom reliability (issue E)
    "CancelToken": "serving.queue", "Cancelled": "runtime", "Diverged": "runtime", "heavy_work": "serving.queue",
    "ModelFileError": "models.user_models", "load_user_model": "models.user_models",
    # deeper lessons (issue H / 10)
    "grad_cam": "inspect.gradcam", "receptive_field": "inspect.receptive", "receptive_fields": "inspect.receptive",
    "ReceptiveField": "inspect.receptive", "conv_by_hand": "inspect.by_hand", "ConvByHand": "inspect.by_hand",
    "epsilon_sweep": "attacks.sweep",
    # a whole class on one server (issue 12): identical runs shared, distinct runs batched
    "Scheduler": "serving.batching", "paint": "optvis.batching", "default_scheduler": "serving.batching",
    "SharedRuns": "serving.runs", "run_key": "serving.keys",
    # models out of the app, for phones (issue 24)
    "export_tflite": "models.export", "labels_txt": "models.export",
    # explanations side by side, and which to trust (issue 24)
    "attribution": "explain.methods", "deletion_curve": "explain.deletion", "sanity_check": "explain.sanity",
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
