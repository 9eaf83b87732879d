"""Models shared by every session (``st.cache_resource``), with honest weights notices."""

from __future__ import annotations

import streamlit as st

import explorer
from explorer import zoo


@st.cache_resource(show_spinner="Loading the model (first time only)...", max_entries=8)
def cached_model(name: str, weights: str | None = "imagenet", **kwargs):
    """One shared, never-mutated model per configuration. Raises WeightsUnavailable like load_model."""
    return explorer.load_model(name, weights=weights, allow_download=True, **_freeze(kwargs))


def _freeze(kwargs: dict) -> dict:
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()}


def model_select(label: str = "Model", key: str = "model", default: str = "vgg16",
                 names=zoo.MODEL_NAMES, **kwargs):
    """A model picker that always returns a usable model plus a weights notice.

    When the ImageNet weights are missing (offline classroom), it says which file is missing and
    offers random weights, clearly labelled; returns (name, model or None).
    """
    names = list(names)
    titles = {n: zoo.MODELS[n].title for n in names}
    name = st.selectbox(label, names, index=names.index(default) if default in names else 0,
                        format_func=lambda n: titles[n] + ("" if n == "googlenet" or zoo.weights_available(n, **kwargs)
                                                             else "  (no weights here)"),
                        key=key)
    model = load_with_notice(name, key=key, **kwargs)
    return name, model


def load_with_notice(name: str, key: str = "model", **kwargs):
    """Load a zoo model with ImageNet weights, or explain and offer random weights."""
    if name == "googlenet":
        model = cached_model(name, None, **kwargs)
        st.caption("Weights: random (GoogLeNet is built from the paper; Keras has no pretrained GoogLeNet).")
        return model
    try:
        model = cached_model(name, "imagenet", **kwargs)
        st.caption(f"Weights: {explorer.weights_label(model)}")
        return model
    except explorer.WeightsUnavailable as exc:
        st.warning(str(exc), icon=":material/cloud_off:")
        if st.toggle("Use random (untrained) weights instead", key=f"{key}_random", value=False):
            model = cached_model(name, None, **kwargs)
            st.caption("Weights: **random (untrained)**: shapes and structure are real, predictions are noise.")
            return model
        return None


USER_MODELS_KEY = "user_models"


def user_models() -> dict:
    """Classifiers this user trained (Transfer learning page) or uploaded, by display name.

    Per session (``st.session_state``), never shared: each value is a keras.Model taking 0..255 pixels
    and outputting class probabilities, with ``model.explorer_class_names`` set to its class names.
    """
    return st.session_state.setdefault(USER_MODELS_KEY, {})
