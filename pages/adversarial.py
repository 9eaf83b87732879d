"""Adversarial page (being built)."""

import streamlit as st

st.title("Adversarial")
st.info("This page is being built.")
