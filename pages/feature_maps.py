"""Feature maps: what every convolutional layer of a CNN extracts from a photo, channel by channel.

All layers' maps and the predictions come from one forward pass (``explorer.features``), kept per
session for the current (model, photo), so moving the layer slider never recomputes anything.
"""

from __future__ import annotations

import base64
import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from explorer import classifier, features, zoo
from explorer.images import png_bytes
from ui.models import GEOMETRY_NOTE, model_select, title_of, top5
from ui.photo import photo_input
from ui.shell import require_shell

require_shell()

COLORSCALE = "Viridis"
MODES = ("After activation", "Convolution output")
SCALES = {"Shared across channels": "shared", "Per channel": "channel"}


def _png_uri(array: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(array, compress_level=1)).decode()


def compute(model, label: str, mode: str, photo: np.ndarray):
    """All conv layers' maps + predictions for this (model, mode, photo): one pass, kept per session."""
    after = features.conv_activations(model)
    layers = tuple(after.values() if mode == MODES[0] else after.keys())
    key = (label, id(model), mode, hashlib.sha1(photo.tobytes()).hexdigest(), photo.shape)
    cached = st.session_state.get("fm_result")
    if cached is None or cached[0] != key:
        with st.spinner("Running the photo through the network (one pass for every layer)..."):
            maps, probs = features.feature_maps_and_predictions(model, photo, layers)
        st.session_state["fm_result"] = cached = (key, maps, probs)
    return cached[1], cached[2]


def shape_chart(maps: dict, selected: str) -> go.Figure:
    names = list(maps)
    sides = [m.shape[0] for m in maps.values()]
    channels = [m.shape[2] for m in maps.values()]
    depth = list(range(1, len(names) + 1))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=depth, y=channels, name="channels", marker_color="#9ecae1", customdata=names,
                hovertemplate="%{customdata}<br>%{y} channels<extra></extra>")
    fig.add_scatter(x=depth, y=sides, name="height = width (pixels)", mode="lines+markers", line_color="#e6550d",
                    customdata=names, hovertemplate="%{customdata}<br>%{y} x %{y} pixels<extra></extra>",
                    secondary_y=True)
    at = names.index(selected) + 1
    fig.add_vline(x=at, line_dash="dot", line_color="black")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15),
                      bargap=0.2)
    fig.update_xaxes(title_text="conv layer (input to output)")
    fig.update_yaxes(title_text="channels", secondary_y=False)
    fig.update_yaxes(title_text="pixels", secondary_y=True, rangemode="tozero", tickformat="d")
    return fig


def grid_figure(grid: features.Grid, rgb: np.ndarray, fmap: np.ndarray) -> go.Figure:
    """The tiled channels as one image, with an invisible marker per tile for hover and click."""
    h, w = grid.tile
    n = len(grid.order)
    idx = np.arange(n)
    xs = (idx % grid.cols) * (w + grid.pad) + (w - 1) / 2
    ys = (idx // grid.cols) * (h + grid.pad) + (h - 1) / 2
    means = fmap.mean(axis=(0, 1), dtype=np.float64)[grid.order]
    fig = go.Figure(go.Image(source=_png_uri(rgb), hoverinfo="skip"))
    fig.add_scatter(x=xs, y=ys, mode="markers", customdata=np.stack([grid.order, idx + 1, means], axis=1),
                    marker=dict(symbol="square", size=max(6, min(60, 700 // grid.cols)), opacity=0),
                    hovertemplate="channel %{customdata[0]:.0f} (rank %{customdata[1]:.0f})<br>"
                                  "mean activation %{customdata[2]:.3g}<extra>click to enlarge</extra>",
                    showlegend=False)
    aspect = rgb.shape[0] / rgb.shape[1]
    fig.update_layout(height=int(min(900, max(250, 750 * aspect))), margin=dict(l=0, r=0, t=0, b=0),
                      clickmode="event+select", dragmode=False)
    fig.update_xaxes(visible=False, range=[-0.5, rgb.shape[1] - 0.5])
    fig.update_yaxes(visible=False, range=[rgb.shape[0] - 0.5, -0.5], scaleanchor="x")
    return fig


def overlay_figure(photo: np.ndarray, channel: np.ndarray, opacity: float) -> go.Figure:
    """One channel stretched over the photo it was computed from (same field of view)."""
    ph, pw = photo.shape[:2]
    ch, cw = channel.shape
    z = np.nan_to_num(channel.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    fig = go.Figure(go.Image(source=_png_uri(photo), hoverinfo="skip"))
    fig.add_heatmap(z=z, x0=(pw / cw - 1) / 2, dx=pw / cw, y0=(ph / ch - 1) / 2, dy=ph / ch, opacity=opacity,
                    colorscale=COLORSCALE, zsmooth="best", colorbar=dict(title="activation", thickness=12),
                    hovertemplate="activation %{z:.3g}<extra></extra>")
    fig.update_layout(height=420, margin=dict(l=0, r=0, t=0, b=0))
    fig.update_xaxes(visible=False, range=[-0.5, pw - 0.5])
    fig.update_yaxes(visible=False, range=[ph - 0.5, -0.5], scaleanchor="x")
    return fig


def clicked_channel(event, grid: features.Grid) -> int | None:
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        if p.get("curve_number") == 1 and p.get("point_index") is not None:
            return int(grid.order[int(p["point_index"])])
        channel = grid.channel_at(p.get("x", -1), p.get("y", -1))
        if channel is not None:
            return channel
    return None


def layer_view(model_label: str, layer: str, fmap: np.ndarray, photo: np.ndarray, main: bool) -> None:
    """Grid of one layer's channels, PNG download and (for the main layer) the enlarged channel."""
    h, w, c = fmap.shape
    key = f"fm_{model_label}_{layer}"
    controls = st.columns([2, 2, 1])
    scale = SCALES[controls[0].segmented_control("Colour scale", list(SCALES), default="Shared across channels",
                                                 key=f"{key}_scale") or "Shared across channels"]
    shown = c if c <= 8 else controls[1].slider("Channels shown (strongest first)", 1, c, min(c, 64),
                                                key=f"{key}_count")
    grid = features.channel_grid(fmap, scale=scale, max_channels=shown, pad=max(1, h // 56))
    rgb = grid.to_rgb(COLORSCALE)
    controls[2].download_button("Grid as PNG", png_bytes(rgb, compress_level=1), file_name=f"{model_label}_{layer}_channels.png",
                                mime="image/png", icon=":material/download:", key=f"{key}_download")
    st.caption(f"**{layer}**: {h}x{w} pixels x {c} channels, showing the {shown} strongest (by mean activation), "
               f"{'one colour scale for the whole layer' if scale == 'shared' else 'each channel on its own scale'}."
               + (" Click a channel to enlarge it." if main else ""))
    if not main:
        st.plotly_chart(grid_figure(grid, rgb, fmap), key=f"{key}_grid", width="stretch")
        return
    event = st.plotly_chart(grid_figure(grid, rgb, fmap), key=f"{key}_grid", width="stretch",
                            on_select="rerun", selection_mode="points")
    pick_key = f"{key}_channel"
    clicked = clicked_channel(event, grid)
    if clicked is not None and st.session_state.get(f"{key}_last_click") != clicked:
        st.session_state[f"{key}_last_click"] = clicked
        st.session_state[pick_key] = clicked
    st.subheader("One channel over the photo")
    left, right = st.columns([1, 3])
    if not 0 <= st.session_state.get(pick_key, -1) < c:
        st.session_state[pick_key] = int(grid.order[0])  # the strongest channel until one is clicked
    channel = int(left.number_input("Channel", 0, c - 1, key=pick_key))
    opacity = left.slider("Opacity", 0.0, 1.0, 0.6, key=f"{key}_opacity")
    mean = float(np.nanmean(fmap[..., channel])) if np.isfinite(fmap[..., channel]).any() else float("nan")
    rank = int(np.flatnonzero(features.channel_order(fmap) == channel)[0]) + 1
    left.metric("Mean activation", f"{mean:.3g}", help="Channels are sorted by this, strongest first.")
    left.caption(f"Rank {rank} of {c}. Bright = this channel's pattern is strong here; each of its "
                 f"{h}x{w} pixels sees a patch of the photo.")
    right.plotly_chart(overlay_figure(photo, fmap[..., channel], opacity), key=f"{key}_overlay", width="stretch")


st.title("Feature maps")
st.markdown("Each convolutional layer turns the photo into many **channels**: maps of where its filters "
            "find their pattern. Early layers find edges and colours; deeper layers are smaller and have more "
            "channels, and respond to textures and parts of objects.")

with st.sidebar:
    photo_raw, photo_caption = photo_input("fm_photo")
model_label, model = model_select("Model", key="fm_model", default="vgg16", variants=zoo.VARIANTS, user=True,
                                  suggest_pretrained=True)

if model is None:
    st.info("Turn on random weights above, or pick a model whose weights are on this computer.")
    st.stop()

after = features.conv_activations(model)
if not after:
    st.error(f"{title_of(model_label)} has no convolutional layers to show.")
    st.stop()
mode = MODES[0]
if any(conv != act for conv, act in after.items()):
    mode = st.segmented_control("Show", MODES, default=MODES[0], key="fm_mode",
                                help="Modern CNNs follow each convolution with batch norm and an activation "
                                     "(ReLU): 'after activation' is what the next layer sees.") or MODES[0]

photo = classifier.seen_image(model, photo_raw)
maps, probs = compute(model, model_label, mode, photo_raw)
names = list(maps)

layer = st.select_slider("Layer (input to output)", names, value=names[0], key=f"fm_layer_{model_label}_{mode}",
                         format_func=lambda n: f"{names.index(n) + 1}. {n}")
others = st.multiselect("Compare with more layers", [n for n in names if n != layer], max_selections=3,
                        key=f"fm_more_{model_label}_{mode}")

top = st.columns([1, 1.8, 1.5])
top[0].image(photo, caption=f"What the model sees ({photo.shape[1]}x{photo.shape[0]}); {photo_caption}")
top[0].caption(GEOMETRY_NOTE)
with top[1]:
    st.markdown("**Smaller and deeper**: spatial size shrinks, channels grow")
    st.plotly_chart(shape_chart(maps, layer), key="fm_shapes", width="stretch")
with top[2]:
    top5(model, probs, title="Top-5 predictions")

if others:
    tabs = st.tabs([layer] + others)
    for tab, name in zip(tabs, [layer] + others):
        with tab:
            layer_view(model_label, name, maps[name], photo, main=name == layer)
else:
    layer_view(model_label, layer, maps[layer], photo, main=True)
