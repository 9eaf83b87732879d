"""Transfer learning page (being built)."""

import streamlit as st

st.title("Transfer learning")
st.info("This page is being built.")
