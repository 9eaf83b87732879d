"""Residual block page (being built)."""

import streamlit as st

st.title("Residual block")
st.info("This page is being built.")
