"""The one model picker, shared by every page; models in ``st.cache_resource``, with honest weights notices.

- :func:`model_select`: zoo models and MobileNet variants (one registry, :data:`explorer.zoo.VARIANTS`)
  plus this session's own classifiers, listed as ``Yours: <name>``.
- :func:`top5`: the top-5 table under a model's predictions.
- :func:`second_opinion`: pick a second network and judge a photo pair with it
  (:func:`explorer.attacks.check_transfer`).
- :func:`user_models`: the per-session dict of user-trained or uploaded classifiers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import explorer
from explorer.attacks import verdicts
from explorer.models import classifier, zoo
from explorer import runtime, weights
from explorer.plain_numbers import plain_probability
from ui import present

USER_PREFIX = "Yours: "  # how every picker lists the session's own models
GEOMETRY_NOTE = ("Every page shows the model the photo's centre, cropped to the model's shape and resized "
                 "to its input size, so the same photo gets the same probabilities everywhere.")


@st.cache_resource(show_spinner="Loading the model (first time only)...", max_entries=8)
def cached_model(name: str, weights: str | None = "imagenet", **kwargs):
    """One shared, never-mutated model per configuration. Raises WeightsUnavailable like load_model."""
    model = explorer.load_model(name, weights=weights, allow_download=True, **_freeze(kwargs))
    runtime.settle_heap()  # the model lives as long as the server: keep it out of every later collection
    return model


def _freeze(kwargs: dict) -> dict:
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()}


def title_of(choice: str) -> str:
    """How pages name a picker choice: the variant's title, or ``Yours: <name>``."""
    return choice if choice.startswith(USER_PREFIX) else zoo.VARIANTS[choice].title


#: What a select box shows for a model whose title does not fit one: the select box shows its value in a
#: one-line input, cut off at its edge ("MobileNet, alpha 0.25 (128 px, fastest" presenting, in the side bar,
#: and on a phone). The full title goes in the caption under the picker (:func:`_full_name`).
SHORT_TITLES = {"googlenet": "GoogLeNet", "mobilenet_0.75": "MobileNet 0.75 (192 px)",
                "mobilenet_0.25": "MobileNet 0.25 (128 px)"}
#: Longest user-model name shown whole in a picker (``Yours: `` and this many characters fit the 230 px
#: select box of the side bar); a longer one shows its start and its end.
USER_NAME_CHARS = 20


def _title(choice: str, include_top: bool) -> str:
    """The picker's short label: the short title and a one-word note (what the caption says in full)."""
    if choice.startswith(USER_PREFIX):
        name = choice.removeprefix(USER_PREFIX)
        if len(name) <= USER_NAME_CHARS:
            return choice
        # its start and its end, so "cat vs dog (MobileNetV2)" and "cat vs dog (MobileNet, alpha 0.25)" differ
        return f"{USER_PREFIX}{name[:USER_NAME_CHARS - 8]}…{name[-7:]}"
    spec = zoo.VARIANTS[choice]
    short = SHORT_TITLES.get(choice, spec.title)
    missing = spec.pretrained and not spec.weights_available(include_top)
    if missing:
        return short + " (no weights)"
    return short + (" (bundled)" if spec.weights_bundled(include_top) else "")


def _full_name(choice: str, include_top: bool) -> str | None:
    """The full name where the picker's label shortened it (caption under the picker), else None."""
    full = choice if choice.startswith(USER_PREFIX) else zoo.VARIANTS[choice].title
    return None if _title(choice, include_top).startswith(full) else full


def choices(variants=zoo.MODEL_NAMES, exclude=(), user: bool = False) -> list[str]:
    """The picker's options: keys of :data:`explorer.zoo.VARIANTS` (the plain zoo by default, minus
    ``exclude``), then, with ``user``, the session's own models as ``Yours: <name>``."""
    keys = [k for k in variants if k not in exclude]
    return keys + ([USER_PREFIX + name for name in user_models()] if user else [])


@st.cache_resource(show_spinner="Building the network (first time only)...", max_entries=2)
def structure_model(name: str, **kwargs):
    """A zoo model with random weights, for pages that show structure only (never looks for weight files)."""
    return explorer.load_model(name, weights=None, **_freeze(kwargs))


def model_select(label: str = "Model", key: str = "model", default="vgg16", *, variants=zoo.MODEL_NAMES,
                 exclude=(), user: bool = False, include_top: bool = True, suggest_pretrained: bool = False,
                 structure_only: bool = False):
    """The one model picker: returns ``(choice, model or None)``; :func:`title_of` names the choice.

    ``choice`` is a key of :data:`explorer.zoo.VARIANTS` or ``Yours: <name>``. ``default``: a key, or
    several (the first whose weights are here wins). ``variants`` / ``exclude``: which registry entries
    to list (pass ``zoo.VARIANTS`` for the MobileNet variants too); ``user``: also list this session's
    own classifiers.
    When the ImageNet weights are missing (offline classroom), says which file is missing and offers
    random weights, clearly labelled; ``suggest_pretrained`` adds a button switching to a model whose
    weights are here. ``structure_only``: for pages that show a network's structure, which needs no
    trained weights: every model is built with ``weights=None`` and no weight file is looked for.
    """
    options = choices(variants, exclude, user)
    if structure_only:
        if st.session_state.get(key) not in options:
            st.session_state[key] = default if default in options else options[0]
        choice = st.selectbox(label, options, key=key, format_func=lambda c: zoo.VARIANTS[c].title)
        spec = zoo.VARIANTS[choice]
        return choice, structure_model(spec.model, **spec.kwargs(include_top))
    preferred = [default] if isinstance(default, str) else list(default)
    here = [k for k in preferred if k in options and zoo.VARIANTS[k].weights_available(include_top)]
    start = (here or [k for k in preferred if k in options] or options)[0]
    if st.session_state.get(key) not in options:
        st.session_state[key] = start
    choice = st.selectbox(label, options, key=key, format_func=lambda c: _title(c, include_top))
    full = _full_name(choice, include_top)
    if full is not None:
        st.caption(full)
    if choice.startswith(USER_PREFIX):
        model = user_models()[choice.removeprefix(USER_PREFIX)]
        st.caption(f"Your classifier: {', '.join(classifier.class_names_of(model)[:20])}")
        return choice, model
    spec = zoo.VARIANTS[choice]
    if len(preferred) > 1 and choice == start != preferred[0]:
        st.caption(f"The lesson used {zoo.VARIANTS[preferred[0]].title}, but its ImageNet weights are not on this "
                   f"computer, so {spec.title} (whose weights are here) is the default.")
    model = load_with_notice(spec.model, key=key, **spec.kwargs(include_top))
    if suggest_pretrained and (model is None or "random" in classifier.weights_label(model)):
        _offer_pretrained(key, options, include_top)
    return choice, model


def _offer_pretrained(key: str, options: list[str], include_top: bool) -> None:
    """A button switching the picker to the first listed model whose ImageNet weights are here."""
    here = [k for k in options if not k.startswith(USER_PREFIX) and zoo.VARIANTS[k].weights_available(include_top)]
    if here:
        def use(choice=here[0]):
            st.session_state[key] = choice
        st.button(f"Use {zoo.VARIANTS[here[0]].title} instead (its ImageNet weights are here)", on_click=use)


def load_with_notice(name: str, key: str = "model", **kwargs):
    """Load a zoo model with ImageNet weights, or explain and offer random weights."""
    if not zoo.model_info(name).pretrained:
        model = cached_model(name, None, **kwargs)
        st.caption(f"Weights: random ({zoo.model_info(name).title} is built from the paper; Keras has no "
                   "pretrained weights for it).")
        return model
    try:
        model = cached_model(name, "imagenet", **kwargs)
        label = classifier.weights_label(model)  # e.g. "ImageNet (mobilenet_v2_..._224.h5)"
        st.caption(f"Weights: {label.split(' (')[0] if present.is_on() else label}")  # no file names on a projector
        return model
    except explorer.WeightsUnavailable as exc:
        st.warning(str(exc), icon=":material/cloud_off:")
        if st.toggle("Use random (untrained) weights instead", key=f"{key}_random", value=False):
            model = cached_model(name, None, **kwargs)
            st.caption("Weights: **random (untrained)**: shapes and structure are real, predictions are noise.")
            return model
        return None


def top5(model, probabilities, target: int | None = None, title: str | None = None) -> None:
    """The five most probable classes as a table (the ``target`` class marked), for any model."""
    if probabilities is None:
        st.caption("This model has no classifier on top: no predictions.")
        return
    if title:
        st.markdown(f"**{title}**")
    rows = classifier.top_k(model, probabilities, 5)
    # The words every page uses for a probability ("93%", "4.2%", "1 in 1,200"), and a bar to compare them.
    # A plain HTML table (st.table), not the canvas grid: long class names ("reflex camera") wrap instead
    # of being cut off in a narrow column or at presentation size, and the bar is a CSS background.
    table = pd.DataFrame({"class": [name + (" (target)" if i == target else "") for i, name, _ in rows],
                          "probability": [plain_probability(p) for _, _, p in rows],
                          "bar": [p for _, _, p in rows]})
    styled = (table.style.hide(axis="index").format({"bar": lambda _: ""})
              .bar(subset=["bar"], vmin=0.0, vmax=1.0, color="#ff4b4b80", height=60, width=100)
              .set_properties(subset=["bar"], **{"min-width": "3em", "width": "30%"}))
    st.table(styled)
    if "random" in classifier.weights_label(model):
        st.caption("Random weights: these predictions are noise. The shapes and the structure are real.")


def second_opinion(label: str, key: str, default: str, original: np.ndarray, image: np.ndarray, class_name: str,
                   exclude=()):
    """Pick a second network and judge ``original`` and ``image`` with it, matching ``class_name`` by name.

    Returns ``(title, model, verdicts.TransferCheck)``, or ``(title, None, None)`` if it cannot run.
    """
    # Offline, the default may have no weights here: fall back to the bundled model, never a warning box.
    fallback = (default, "mobilenet_v2") if isinstance(default, str) else (*default, "mobilenet_v2")
    choice, model = model_select(label, key, fallback, variants=zoo.VARIANTS, exclude=exclude, user=True)
    title = title_of(choice)
    if model is None:
        return title, None, None
    return title, model, verdicts.check_transfer(model, original, image, class_name)


USER_MODELS_KEY = "user_models"


def user_models() -> dict:
    """Classifiers this user trained (Transfer learning page) or uploaded, by display name.

    Per session (``st.session_state``), never shared: each value is a keras.Model taking 0..255 pixels
    and outputting class probabilities; :func:`explorer.class_names_of` gives its class names.
    """
    return st.session_state.setdefault(USER_MODELS_KEY, {})
