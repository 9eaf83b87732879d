"""Plotly drawing of an :class:`explorer.graph.LayerGraph`: layers coloured by type, skip connections
as orange arcs, collapsed blocks as squares, hover details (type, output shape, parameters)."""

from __future__ import annotations

import plotly.graph_objects as go

from explorer.graph import CATEGORIES, GraphLayout, LayerGraph

PALETTE = dict(zip(CATEGORIES, [
    "#7f7f7f", "#bcbd22", "#1f77b4", "#17becf", "#c7c7c7", "#98df8a", "#ff7f0e", "#ffbb78", "#d62728",
    "#9467bd", "#e7e7e7", "#f7b6d2", "#8c564b", "#aaaaaa", "#2ca02c",
]))
BLOCK_COLOURS = {"residual block": "#d62728", "inverted residual block": "#e377c2", "Inception block": "#9467bd",
                 "Inception-ResNet block": "#8c564b", "depthwise-separable block": "#17becf",
                 "classifier head": "#bcbd22", "block": "#2ca02c"}
SKIP_COLOUR = "#ff7f0e"
ROW_PX = 34  # vertical pixels per rank
LABELS_UP_TO = 140  # nodes; beyond this, names are shown on hover only


def graph_figure(graph: LayerGraph, lay: GraphLayout, highlight: str | None = None) -> go.Figure:
    """The layer graph top to bottom; each node's ``customdata`` is its name (for click selection)."""
    pos = lay.positions
    fig = go.Figure()
    for skip in (False, True):
        xs, ys = [], []
        for s, t in graph.edges:
            if ((s, t) in lay.skips) != skip:
                continue
            (x0, r0), (x1, r1) = pos[s], pos[t]
            if skip:  # route around the layers it jumps over
                side = min(x0, x1) - 0.6  # left of the column; names are on the right
                xs += [x0, side, side, x1, None]
                ys += [-r0, -r0 - 0.5, -r1 + 0.5, -r1, None]
            else:
                xs += [x0, x1, None]
                ys += [-r0, -r1, None]
        if xs:
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=skip,
                name="skip connection" if skip else "edge",
                line=dict(color=SKIP_COLOUR if skip else "#b0b0b0", width=2.5 if skip else 1.2,
                          shape="spline" if skip else "linear")))
    show_text = len(graph.nodes) <= LABELS_UP_TO
    groups = [(c, c, [n for n in graph.nodes if n.category == c]) for c in CATEGORIES if c != "block"]
    groups += [(f"folded {kind}", colour, [n for n in graph.nodes if n.category == "block" and n.type == kind])
               for kind, colour in BLOCK_COLOURS.items()]
    for legend, colour, nodes in groups:
        if not nodes:
            continue
        block = nodes[0].category == "block"
        hover = [f"<b>{n.name}</b><br>{n.type}" + (f" ({n.layers} layers)" if n.layers > 1 else "")
                 + f"<br>output {n.output_shape}<br>{n.params:,} parameters" for n in nodes]
        fig.add_trace(go.Scatter(
            x=[pos[n.name][0] for n in nodes], y=[-pos[n.name][1] for n in nodes],
            mode="markers+text" if show_text else "markers", name=legend,
            text=[f"{n.name}  ·  {n.type}" if block else n.name for n in nodes], textposition="middle right",
            textfont=dict(size=11), hovertext=hover, hoverinfo="text", customdata=[n.name for n in nodes],
            marker=dict(symbol="square" if block else "circle", size=[min(26, 12 + n.layers // 3) for n in nodes]
                        if block else 11, color=PALETTE.get(colour, colour),
                        line=dict(width=[3 if n.name == highlight else 1 for n in nodes],
                                  color=["#000" if n.name == highlight else "#444" for n in nodes]))))
    xs = [x for x, _ in pos.values()] or [0]
    fig.update_layout(
        height=max(420, min(12000, ROW_PX * lay.ranks + 150)), margin=dict(l=10, r=10, t=80, b=10),
        plot_bgcolor="white", hovermode="closest", clickmode="event+select", dragmode="pan",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        xaxis=dict(visible=False, range=[min(xs) - 1, max(xs) + 4.5]),
        yaxis=dict(visible=False, range=[-lay.ranks, 1]),
    )
    return fig
