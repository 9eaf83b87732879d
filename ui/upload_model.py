"""An upload widget that adds a user's own ``.keras`` classifier to ``ui.models.user_models()``.

The file is checked and loaded by :func:`explorer.user_models.load_user_model` (safe_mode, no code);
a bad file shows an ``st.error`` and nothing else changes. Each session keeps at most
:data:`MAX_UPLOADED` uploaded models (the oldest is dropped), so memory stays bounded.
"""

from __future__ import annotations

import streamlit as st

from explorer.models.classifier import class_names_of, input_size, metadata
from explorer.models.user_models import INPUT_RANGES, ModelFileError, load_user_model
from ui.models import user_models

MAX_UPLOADED = 3
RANGE_HELP = {
    "0..255": "raw pixels, like every model in this app",
    "0..1": "pixels divided by 255",
    "-1..1": "pixels / 127.5 - 1 (MobileNet/Inception style)",
}


def upload_model(key: str = "upload_model") -> str | None:
    """Widgets to upload a classifier; returns the name it was added under (None if nothing new)."""
    upload = st.file_uploader(
        "Your image classifier (.keras)", type=["keras"], key=f"{key}_file",
        help="Saved with `model.save('name.keras')`: one image input (height, width, 3), one output of "
        "class scores. Models with Lambda layers or custom code are refused.",
    )
    input_range = st.segmented_control(
        "It was trained on pixels in", list(INPUT_RANGES), default="0..255", key=f"{key}_range",
        format_func=lambda r: f"{r} ({RANGE_HELP[r]})",
    ) or "0..255"
    names = st.text_area("Class names, one per line (optional)", key=f"{key}_names", height=80)
    if upload is None:
        return None
    signature = (upload.file_id, input_range, names)
    done = st.session_state.get(f"{key}_done")
    if done and done[0] == signature:
        _report(done[1], done[2])
        return None
    try:
        with st.spinner(f"Checking {upload.name}..."):
            model = load_user_model(upload, input_range=input_range, class_names=names or None)
    except ModelFileError as exc:
        st.session_state[f"{key}_done"] = (signature, None, str(exc))
        _report(None, str(exc))
        return None
    name = _add(model)
    st.session_state[f"{key}_done"] = (signature, name, None)
    _report(name, None)
    return name


def _add(model) -> str:
    """Store the model under a fresh display name, dropping the oldest upload past the cap."""
    models = user_models()
    base = f"{metadata(model).name} (uploaded)"
    name, n = base, 2
    while name in models:
        name, n = f"{base} {n}", n + 1
    models[name] = model
    uploaded = [k for k, m in models.items() if metadata(m).weights.startswith("uploaded")]
    for old in uploaded[:-MAX_UPLOADED]:
        del models[old]
    return name


def _report(name: str | None, error: str | None) -> None:
    if error:
        st.error(error, icon=":material/block:")
        return
    model = user_models().get(name)
    if model is None:
        return
    classes = class_names_of(model)
    shown = ", ".join(classes[:5]) + (f" ... ({len(classes)} classes)" if len(classes) > 5 else "")
    how = "softmax added to its logits" if metadata(model).outputs == "logits" else "outputs probabilities"
    height, width = input_size(model)  # what every page feeds it (a free-size model gets 224x224)
    st.success(f"Added **{name}**: {height}x{width} pixels in, "
               f"{shown}; {how}. Pages that take your models now list it.", icon=":material/check_circle:")
