"""Plotly drawing of an :class:`explorer.graph.LayerGraph`, placed by :func:`explorer.graph_drawing.drawing`:
layers coloured by type, folded blocks as squares (a run of identical blocks as one "×N" square), skip
connections as orange arcs, each node's plain-words name beside it and the shape of the tensor it
passes on beside its outgoing edge. Hover for the Keras name, type and parameters."""

from __future__ import annotations

import plotly.graph_objects as go

from explorer.inspect.graph import CATEGORIES, GraphLayout, LayerGraph
from explorer.inspect.graph_drawing import drawing

PALETTE = dict(zip(CATEGORIES, [
    "#7f7f7f", "#bcbd22", "#1f77b4", "#17becf", "#c7c7c7", "#98df8a", "#ff7f0e", "#ffbb78", "#d62728",
    "#9467bd", "#e7e7e7", "#f7b6d2", "#8c564b", "#aaaaaa", "#2ca02c",
]))
BLOCK_COLOURS = {"residual block": "#d62728", "inverted residual block": "#e377c2", "Inception block": "#9467bd",
                 "Inception-ResNet block": "#8c564b", "depthwise-separable block": "#17becf",
                 "classifier head": "#bcbd22", "block": "#2ca02c"}
SKIP_COLOUR = "#ff7f0e"
FONT_PX = 16  # node names; readable from the back of a classroom
SHAPE_FONT_PX = 14
GRAPH_WIDTH_PX = 900  # the drawing's width in pixels; the chart stretches to the page width (never narrower)
LEGEND_PX = 90


def _hover(n) -> str:
    what = n.label if n.label and n.label != n.name else n.type
    extra = f" ({n.layers} layers)" if n.layers > 1 else ""
    run = f"<br>{n.repeat} identical blocks, from {n.block}" if n.repeat > 1 else ""
    return (f"<b>{what}</b><br>Keras: {n.name} ({n.type}){extra}{run}<br>output {n.output_shape}"
            f"<br>{n.params:,} parameters")


def graph_figure(graph: LayerGraph, lay: GraphLayout, highlight: str | None = None,
                 width: float = GRAPH_WIDTH_PX) -> go.Figure:
    """The layer graph top to bottom, wrapped into columns; each node's ``customdata`` is what a click
    opens (a folded node's first block, else the layer's name)."""
    d = drawing(graph, lay, width=width, font_px=FONT_PX)
    fig = go.Figure()
    for skip in (False, True):
        xs, ys = [], []
        for s, t, ex, ey in d.edges:
            if ((s, t) in lay.skips) != skip:
                continue
            (x0, y0), (x1, y1) = d.points[s], d.points[t]
            same_column = int(x0 // (d.width / d.columns)) == int(x1 // (d.width / d.columns))
            if skip and same_column:  # an arc left of the layers it jumps over (else: the column gutter)
                side = min(x0, x1) - 24
                ex, ey = [x0, side, side, x1], [y0, y0 + 16, y1 - 16, y1]
            xs += [*ex, None]
            ys += [*ey, None]
        if xs:
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=skip,
                name="skip connection" if skip else "edge",
                line=dict(color=SKIP_COLOUR if skip else "#9a9a9a", width=3 if skip else 1.5)))
    groups = [(c, c, [n for n in graph.nodes if n.category == c]) for c in CATEGORIES if c != "block"]
    groups += [(f"folded {kind}", colour, [n for n in graph.nodes if n.category == "block" and n.type == kind])
               for kind, colour in BLOCK_COLOURS.items()]
    for legend, colour, nodes in groups:
        if not nodes:
            continue
        block = nodes[0].category == "block"
        fig.add_trace(go.Scatter(
            x=[d.points[n.name][0] for n in nodes], y=[d.points[n.name][1] for n in nodes], mode="markers",
            name=legend, hovertext=[_hover(n) for n in nodes], hoverinfo="text",
            customdata=[n.block if block else n.name for n in nodes],
            marker=dict(symbol="square" if block else "circle", size=22 if block else 15,
                        color=PALETTE.get(colour, colour),
                        line=dict(width=[4 if n.block == highlight and highlight else 1 for n in nodes],
                                  color=["#000" if n.block == highlight and highlight else "#444" for n in nodes]))))
    names = [n.name for n in graph.nodes]
    fig.add_trace(go.Scatter(
        x=[d.node_labels[n].x0 for n in names], y=[d.points[n][1] for n in names], mode="text",
        text=[d.node_labels[n].text for n in names], textposition="middle right", hoverinfo="skip",
        showlegend=False, textfont=dict(size=FONT_PX, color="#111")))
    shaped = [n for n in names if n in d.shape_labels]
    fig.add_trace(go.Scatter(
        x=[d.shape_labels[n].x0 for n in shaped], y=[(d.shape_labels[n].y0 + d.shape_labels[n].y1) / 2 for n in shaped],
        mode="text", text=[d.shape_labels[n].text for n in shaped], textposition="middle right", hoverinfo="skip",
        showlegend=False, textfont=dict(size=SHAPE_FONT_PX, color="#666")))
    fig.update_layout(
        height=d.height + LEGEND_PX, margin=dict(l=0, r=0, t=LEGEND_PX, b=0), plot_bgcolor="white",
        hovermode="closest", clickmode="event+select", dragmode="pan", font=dict(size=FONT_PX),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, font=dict(size=FONT_PX)),
        hoverlabel=dict(font_size=FONT_PX),
        xaxis=dict(visible=False, range=[0, d.width], fixedrange=True),
        yaxis=dict(visible=False, range=[d.height, 0], fixedrange=True),
    )
    return fig
