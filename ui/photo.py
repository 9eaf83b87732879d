"""One photo-input widget for every page: a sample, an upload or the camera.

A bad file shows an ``st.error`` and the page keeps the last good photo: nothing is lost.
:func:`sample_param` mirrors the sample choice into a lesson link (:mod:`ui.links`).
"""

from __future__ import annotations

import streamlit as st

import explorer
from explorer.data.images import SUPPORTED_TYPES, image_note
from explorer.data.samples import SAMPLES, sample_image
from ui import links, present

SOURCES = ("Sample photo", "Upload", "Camera")


@st.cache_data(show_spinner=False, max_entries=16)
def _sample(name: str):
    return sample_image(name)


def sample_key(key: str = "photo") -> str:
    """The session-state key of ``photo_input(key)``'s sample selector."""
    return f"{key}_sample"


def sample_param(key: str = "photo", name: str = "photo") -> links.Param:
    """The lesson-link :class:`ui.links.Param` of ``photo_input(key)``'s sample choice (URL ``?photo=...``).

    Put it in the page's params list: ``links.restore`` before ``photo_input`` runs, ``links.publish`` after.
    """
    return links.choice(sample_key(key), name, list(SAMPLES))


def wrap_choices(widget_key: str) -> None:
    """Let a segmented control's buttons wrap onto a second line instead of being cut off in a narrow column
    (or in presentation mode's larger type): Streamlit's control scrolls sideways and hides the last option."""
    present.style(f".st-key-{widget_key} [role='radiogroup'] {{ flex-wrap: wrap; overflow: visible; row-gap: 0.25rem; }}",
                  f"wrap-{widget_key}")


def _use_upload(upload, state_key: str) -> None:
    """Decode an upload once (reruns reuse it); on a bad file show why and keep the last good photo."""
    seen_key = f"{state_key}_upload"
    seen = st.session_state.get(seen_key)
    if seen is None or seen[0] != upload.file_id:
        data = upload.getvalue()
        try:
            image = explorer.load_image(data)
        except explorer.ImageError as exc:
            seen = (upload.file_id, f"**{upload.name}**: {exc}", None)
        else:
            seen = (upload.file_id, None, image_note(data))
            st.session_state[state_key] = (image, f"upload: {upload.name}")
        st.session_state[seen_key] = seen
    _, error, note = seen
    if error:
        st.error(error, icon=":material/broken_image:")
        st.caption("Still showing the previous photo." if state_key in st.session_state
                   else "Showing a sample photo instead.")
    elif note:
        st.info(note)


def photo_input(key: str = "photo", default_sample: str = "Cat (Chelsea)", label: str = "Photo"):
    """Return an RGB uint8 HxWx3 array (never None) and a short caption of where it came from."""
    state_key = f"{key}_last_good"
    wrap_choices(f"{key}_source")
    source = st.segmented_control(label, SOURCES, default=SOURCES[0], key=f"{key}_source") or SOURCES[0]
    if source == "Sample photo":
        names = list(SAMPLES)
        links.default(sample_key(key), default_sample if default_sample in names else names[0])
        if st.session_state[sample_key(key)] not in names:  # a stale value from an older session
            st.session_state[sample_key(key)] = names[0]
        name = st.selectbox("Sample", names, key=sample_key(key), label_visibility="collapsed")
        st.session_state[state_key] = (_sample(name), f"sample: {name}")
    else:
        if source == "Upload":
            upload = st.file_uploader("Upload a photo", type=list(SUPPORTED_TYPES), key=f"{key}_upload")
        else:
            upload = st.camera_input("Take a photo", key=f"{key}_camera")
        if upload is not None:
            _use_upload(upload, state_key)
    if state_key not in st.session_state:
        st.session_state[state_key] = (_sample(default_sample), f"sample: {default_sample}")
    return st.session_state[state_key]
