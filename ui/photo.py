"""One photo-input widget for every page: a sample, an upload or the camera.

A bad file shows an ``st.error`` and the page keeps the last good photo: nothing is lost.
"""

from __future__ import annotations

import streamlit as st

import explorer
from explorer.images import SUPPORTED_TYPES, image_note
from explorer.samples import SAMPLES, sample_image

SOURCES = ("Sample photo", "Upload", "Camera")


@st.cache_data(show_spinner=False, max_entries=16)
def _sample(name: str):
    return sample_image(name)


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
    source = st.segmented_control(label, SOURCES, default=SOURCES[0], key=f"{key}_source") or SOURCES[0]
    if source == "Sample photo":
        names = list(SAMPLES)
        name = st.selectbox("Sample", names, index=names.index(default_sample) if default_sample in names else 0,
                            key=f"{key}_sample", label_visibility="collapsed")
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
