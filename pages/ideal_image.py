"""Ideal image page (being built)."""

import streamlit as st

st.title("Ideal image")
st.info("This page is being built.")
