"""A trained classifier to keep (Transfer learning, Class mode): "Download as .keras" and, beside it, the
"Download for phones (.tflite)" button, a zip a phone app can use.

The conversion (:func:`explorer.models.export.tflite_zip`, seconds) runs only when the button is
clicked (Streamlit's deferred download), once per model and setting: a rerun never converts.
"""

from __future__ import annotations

import streamlit as st

import explorer
from explorer.models.export import tflite_zip
from explorer.transfer import classifier_bytes

LABEL = "Download for phones (.tflite)"


def phone_download(model, file_name: str, key: str) -> None:
    """The download button, a "smaller file" choice under it and a caption saying what the zip holds."""
    small = st.session_state.get(f"{key}_small", False)
    quantize = "dynamic" if small else None
    st.download_button(LABEL, data=lambda: tflite_zip(model, quantize),
                       file_name=f"{file_name}_tflite{'_8bit' if small else ''}.zip", mime="application/zip",
                       on_click="ignore", icon=":material/smartphone:", width="stretch", key=f"{key}_button")
    st.checkbox("Smaller file (weights in 8 bits)", key=f"{key}_small",
                help="About 4 times smaller (MobileNetV2: 14 MB becomes 3.8 MB). Its probabilities differ from "
                     "the ones shown here by a few percent at most; its best guess is almost always the same.")
    height, width = explorer.input_size(model)
    st.caption(f"A zip with **model.tflite**, **labels.txt** (one class name a line) and a README. The model takes "
               f"one photo as RGB pixels 0..255 (float32), {width}x{height}, and gives the class probabilities shown "
               "on this page. The README says how a phone app feeds it.")


def model_downloads(model, file_name: str, key: str) -> None:
    """The two downloads side by side: ``{file_name}.keras`` and the phone zip (keys ``{key}_keras``,
    ``{key}_phone``)."""
    keras_col, phone_col = st.columns(2)
    keras_col.download_button("Download as .keras", data=lambda: classifier_bytes(model),
                              file_name=f"{file_name}.keras", mime="application/octet-stream", on_click="ignore",
                              icon=":material/download:", width="stretch", key=f"{key}_keras")
    with phone_col:
        phone_download(model, file_name, key=f"{key}_phone")
