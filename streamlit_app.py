"""CNN Explorer: entry point. Run with ``streamlit run streamlit_app.py``."""

import streamlit as st

from explorer import runtime, warm
from ui import present
from ui.shell import mark_shell

runtime.configure()  # TF thread pools + malloc arenas for a shared classroom server (once per process)
warm.start_background()  # CNN_EXPLORER_WARM=1: paint the quick picks into the shared run cache at start

st.set_page_config(page_title="CNN Explorer", page_icon=":material/neurology:", layout="wide")

PAGES = {
    "Start": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/class.py", title="Class", icon=":material/groups:", url_path="class"),
    ],
    "Architectures": [
        st.Page("pages/architectures.py", title="Architectures", icon=":material/account_tree:"),
        st.Page("pages/inception_block.py", title="Inception block", icon=":material/call_split:"),
        st.Page("pages/residual_block.py", title="Residual block", icon=":material/redo:"),
    ],
    "Inside a network": [
        st.Page("pages/feature_maps.py", title="Feature maps", icon=":material/grid_view:"),
        st.Page("pages/transfer_learning.py", title="Transfer learning", icon=":material/model_training:"),
    ],
    "What the network sees": [
        st.Page("pages/ideal_image.py", title="Ideal class image", icon=":material/auto_awesome:"),
        st.Page("pages/adversarial.py", title="Adversarial example", icon=":material/bug_report:"),
    ],
}

page = st.navigation(PAGES)
present.sidebar_toggle()
mark_shell()
page.run()
