"""Inception block page (being built)."""

import streamlit as st

st.title("Inception block")
st.info("This page is being built.")
