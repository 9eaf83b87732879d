"""Feature maps page (being built)."""

import streamlit as st

st.title("Feature maps")
st.info("This page is being built.")
