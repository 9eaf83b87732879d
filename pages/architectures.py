"""Architectures: pick a famous CNN, read its summary card, browse its layer graph and layer table.

This page shows structure only, which needs no trained weights: every model is built with
``weights=None`` (random weights, never used), so nothing here depends on which weight files the
computer has."""

import pandas as pd
import streamlit as st

from explorer.inspect import graph as g
from explorer.models import zoo
from explorer.plain_numbers import plain_number
from ui import links
from ui.graph_plot import graph_figure
from ui.models import model_select
from ui.shell import require_shell

require_shell()

st.title("Architectures")
st.markdown("Pick a network. The graph runs from the input (top) to the classifier (bottom), continuing "
            "at the top of the next column: parallel branches sit side by side, skip connections are "
            "orange arcs, and the shape of each tensor is written beside the arrow that carries it. "
            "Repeated blocks are folded into squares named as in their paper (**×N** when N identical "
            "blocks follow each other). Click a square to open it; hover any node for details.")

NO_EXPAND = "(none: all blocks folded)"
COLLAPSE_FROM = 60  # layers; smaller models show every layer by default


@st.cache_data(show_spinner="Reading the layer graph (first time only)...", max_entries=16)
def structure(name: str, _model) -> g.LayerGraph:
    """The layer graph of a zoo model. Structure needs no trained weights, so the picker builds the model
    with ``weights=None`` (the graph is the same whatever the weights)."""
    return g.layer_graph(_model)


@st.cache_data(max_entries=64)
def view(name: str, collapsed: bool, expand: str | None, _graph: g.LayerGraph):
    shown = g.collapse(_graph, expand) if collapsed else _graph
    return shown, g.layout(shown)


names = list(zoo.MODEL_NAMES)
LINKS = [links.choice("arch_model", "model", names)]
links.restore(LINKS)
links.default("arch_model", "mobilenet_v2")
left, right = st.columns([1, 2])
with left:
    name, model = model_select("Model", "arch_model", "mobilenet_v2", structure_only=True)
    links.share(LINKS, key="arch_share")
info = zoo.model_info(name)
graph = structure(name, model)

with right.container(border=True):
    st.subheader(f"{info.title} ({info.year})")
    st.caption(f"{info.paper}. {info.blurb}")
    c = st.columns(3) + st.columns(3)
    c[0].metric("Depth", info.depth if info.depth else "?", help="Depth as listed in the Keras applications table")
    c[1].metric("Parameters", plain_number(graph.params))
    c[2].metric("Input", f"{info.input_size}x{info.input_size}")
    c[3].metric("ImageNet top-1", f"{info.top1:.1%}" if info.top1 else "n/a",
                help="Keras' published accuracy of the ImageNet weights" if info.top1 else "No pretrained weights exist")
    c[4].metric("Keras layers", len(graph.nodes))
    c[5].metric("Repeated blocks", len(graph.blocks))
    st.caption("Structure only: no trained weights are needed to draw a network, so none are loaded here.")

# Clicking a folded block in the graph opens it: the click arrives in the chart's state on the rerun.
# Each view gets its own chart key, so a new view starts with a fresh chart (no stale selection).
expand_key = f"arch_expand_{name}"
chart_key = f"arch_graph_{name}_{st.session_state.get(expand_key)}"
event = st.session_state.get(chart_key)
points = event.selection.points if event and getattr(event, "selection", None) else []
clicked = points[0].get("customdata") if points else None
if clicked in graph.blocks:
    st.session_state[expand_key] = clicked

controls = st.columns([1, 2, 2])
collapsed = controls[0].toggle("Fold blocks", value=len(graph.nodes) > COLLAPSE_FROM, key=f"arch_fold_{name}",
                               disabled=not graph.blocks, help="Large models stay readable when each block is one node")
expand = None
if collapsed and graph.blocks:
    choice = controls[1].selectbox("Open one block (or click a square)", [NO_EXPAND, *graph.blocks], key=expand_key,
                                   format_func=lambda b: b if b == NO_EXPAND else f"{g.block_title(b)}  ({b})")
    expand = None if choice == NO_EXPAND else choice
shown, lay = view(name, collapsed, expand, graph)
# the whole model's skip connections, not only the drawn ones: folded, ResNet-50 said "0 skip connection(s)"
total_skips = len(view(name, False, None, graph)[1].skips)
hidden = total_skips - len(lay.skips)
controls[2].caption(f"Showing {len(shown.nodes)} nodes for {len(graph.nodes)} layers; the model has "
                    f"{total_skips} skip connection(s)"
                    + (f", {hidden} of them inside folded blocks (open a block to see them)." if hidden > 0 else "."))
chart_key = f"arch_graph_{name}_{st.session_state.get(expand_key)}"
st.plotly_chart(graph_figure(shown, lay, highlight=expand), key=chart_key, on_select="rerun",
                selection_mode="points", width="stretch", config={"scrollZoom": False, "displayModeBar": False})

if graph.blocks:
    with st.expander(f"The {len(graph.blocks)} repeated blocks"):
        st.dataframe(pd.DataFrame(g.block_summary(graph)), hide_index=True, width="stretch",
                     column_config={"paper name": st.column_config.TextColumn(width="medium"),
                                    "parameters": st.column_config.NumberColumn(format="localized")})

st.subheader("Layer table")
query = st.text_input("Search layers", placeholder="name, type or block, e.g. conv, Add, conv3_x",
                      key=f"arch_search_{name}").strip().lower()
table = pd.DataFrame(g.layer_table(graph))
if query:
    hit = table[["layer", "what it is", "type", "block"]].apply(
        lambda col: col.str.lower().str.contains(query, regex=False))
    table = table[hit.any(axis=1)]
st.caption(f"{len(table)} of {len(graph.nodes)} layers")
st.dataframe(table, hide_index=True, width="stretch", height=min(600, 38 + 35 * max(1, len(table))),
             column_config={"#": st.column_config.NumberColumn(width="small"),
                            "layer": st.column_config.TextColumn(width="medium"),
                            "what it is": st.column_config.TextColumn(width="medium"),
                            "block": st.column_config.TextColumn(width="medium"),
                            "output shape": st.column_config.TextColumn(width="medium"),
                            "parameters": st.column_config.NumberColumn(format="localized"),
                            "inputs": st.column_config.TextColumn(width="large")})
links.publish(LINKS)
