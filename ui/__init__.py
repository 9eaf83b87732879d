"""Streamlit helpers shared by the pages: cached models, photo input, weights notices.

The ``explorer`` package holds all model code and never imports streamlit; this package is the thin
layer between it and the pages.
"""
