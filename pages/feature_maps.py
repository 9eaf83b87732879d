"""Feature maps: what every convolutional layer of a CNN extracts from a photo, channel by channel, and why
(where the network looks, what a channel wants to see, what one position sees, one convolution by hand).

All layers' maps and the predictions come from one forward pass (``explorer.features``), kept per
session for the current (model, photo), so moving the layer slider never recomputes anything. The
sections are tabs that run only when open; painting a channel's ideal image runs only on its button.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from explorer.models import classifier, zoo
from explorer.inspect import features
from explorer.data.images import png_bytes
from explorer.plain_numbers import plain_number
from explorer import serving
from ui import explanations
from ui import feature_sections as sections
from ui import links, present
from ui.models import GEOMETRY_NOTE, choices, model_select, title_of, top5
from ui.photo import photo_input, sample_param
from ui.shared_views import shared_feature_maps_and_predictions, shared_seen_image
from ui.shell import require_shell

require_shell()

COLORSCALE = "Viridis"
MODES = ("After activation", "Convolution output")
SCALES = {"Shared across channels": "shared", "Per channel": "channel"}
SECTIONS = ("Channels", "Where does it look?", "What one position sees", "Convolution by hand", "Sizes")
PREFERRED = ["vgg16", "mobilenet_v2"]  # the lesson's VGG-16 when its weights are here, else MobileNetV2
LAYER, CHANNEL, SCALE, COUNT, OPACITY = "fm_layer", "fm_channel", "fm_scale", "fm_count", "fm_opacity"
WANTED = "fm_count_wanted"  # how many channels the user wants shown (the slider shows at most the layer's)
SECTION, MODE = "fm_section", "fm_mode"
GRID_WIDTH = 700  # about the grid column's width at 1440x900 with the side bar open, in CSS pixels
PRESENT_GRID_WIDTH = 560  # the same presenting (wider side bar and photo column)
THUMB = 100  # a channel tile's least width when presenting (times present.THUMB_SCALE); ~85 px normally
# Widgets inside tabs that do not run while another tab is open: their values are kept (and linked).
KEPT = (CHANNEL, SCALE, COUNT, OPACITY, sections.CAM_CLASS, sections.RF_ROW, sections.RF_COL,
        sections.HAND_ROW, sections.HAND_COL, sections.HAND_KERNEL, explanations.VIEW, explanations.BASELINE)


def keep_tab_widgets() -> None:
    """Streamlit forgets a widget's value when it is not drawn; re-setting it keeps it for the next time."""
    for key in KEPT:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def _png_uri(array: np.ndarray) -> str:
    """The picture as a PNG data URI, encoded once for the server per content: a class looking at the
    same layer of the same photo shares one encoding (it was a fifth of every rerun of this page)."""
    return serving.memo(serving.run_key("png_uri", None, picture=array), lambda: "data:image/png;base64," +
                        base64.b64encode(png_bytes(array, compress_level=1)).decode())


def compute(model, label: str, mode: str, photo: np.ndarray):
    """All conv layers' maps + predictions for this (model, mode, photo): one pass for the whole server
    (a class opening the page together shares one read-only copy), remembered by this session."""
    after = features.conv_activations(model)
    layers = tuple(after.values() if mode == MODES[0] else after.keys())
    key = (label, id(model), mode, serving.content_key(photo))
    cached = st.session_state.get("fm_result")
    if cached is None or cached[0] != key:
        with st.spinner("Running the photo through the network (one pass for every layer)..."):
            maps, probs = shared_feature_maps_and_predictions(model, photo, layers)
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
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=1.15), bargap=0.2)
    fig.update_xaxes(title_text="conv layer (input to output)")
    fig.update_yaxes(title_text="channels", secondary_y=False)
    fig.update_yaxes(title_text="pixels", secondary_y=True, rangemode="tozero", tickvals=sorted(set(sides)))
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
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), clickmode="event+select", dragmode=False)
    fig.update_xaxes(visible=False, range=[-0.5, rgb.shape[1] - 0.5])
    # the tiles start at the top of the chart: a chart taller than the grid leaves its room below, never a gap
    # between the caption and the grid
    fig.update_yaxes(visible=False, range=[rgb.shape[0] - 0.5, -0.5], scaleanchor="x", constraintoward="top")
    present.style_figure(fig)
    # set after style_figure (which makes charts 25% taller): the column is narrower when presenting
    width = PRESENT_GRID_WIDTH if present.is_on() else GRID_WIDTH
    fig.update_layout(height=int(min(1400, max(200, width * aspect))))
    return fig


def overlay_figure(photo: np.ndarray, channel: np.ndarray, opacity: float) -> go.Figure:
    """One channel stretched over the photo it was computed from (same field of view)."""
    ph, pw = photo.shape[:2]
    ch, cw = channel.shape
    z = np.nan_to_num(channel.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    fig = go.Figure(go.Image(source=_png_uri(photo), hoverinfo="skip"))
    fig.add_heatmap(z=z, x0=(pw / cw - 1) / 2, dx=pw / cw, y0=(ph / ch - 1) / 2, dy=ph / ch, opacity=opacity,
                    colorscale=COLORSCALE, zsmooth="best", colorbar=dict(title=dict(text="activation", side="right"), thickness=12),
                    hovertemplate="activation %{z:.3g}<extra></extra>")
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0))
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


def grid_columns(n: int) -> int | None:
    """Columns of the channel grid: near-square normally; tiles of at least ``present.px(THUMB)`` px
    when presenting (bigger tiles, fewer per row)."""
    if not present.is_on():
        return None
    return max(1, min(n, GRID_WIDTH // present.px(THUMB)))


def default_count(c: int) -> int:
    return min(c, 20 if present.is_on() else 64)


def grid_controls(c: int, key: str, linked: bool, place=None) -> tuple[str, int]:
    """Colour scale and how many channels: the linked widgets for the main layer, own keys for others."""
    scale_key, count_key = (SCALE, COUNT) if linked else (f"{key}_scale", f"{key}_count")
    links.default(scale_key, "Shared across channels")
    if linked:  # the slider's range follows the layer; what the user asked for (and the link says) stays
        links.default(WANTED, default_count(4096))
        last, now = st.session_state.get("fm_count_set"), st.session_state.get(count_key)
        if last is not None and now is not None and now != last:
            st.session_state[WANTED] = now  # the user moved the slider
        st.session_state[count_key] = st.session_state["fm_count_set"] = min(st.session_state[WANTED], c)
    elif st.session_state.get(count_key) is None or not 1 <= st.session_state[count_key] <= c:
        st.session_state[count_key] = default_count(c)
    # presenting: the larger controls go one above the other in ``place`` (folded under the grid, so the
    # grid starts on the first screen), nothing cut off
    controls = [place, place] if place is not None else st.columns([2, 2])
    scale = SCALES[controls[0].segmented_control("Colour scale", list(SCALES), key=scale_key)
                   or "Shared across channels"]
    shown = c if c <= 8 else controls[1].slider("Channels shown (strongest first)", 1, c, key=count_key)
    return scale, int(shown)


def layer_grid(model_label: str, layer: str, fmap: np.ndarray, main: bool) -> features.Grid:
    """One layer's channels as a grid (click a tile to enlarge it, for the main layer) and its PNG."""
    h, w, c = fmap.shape
    key = f"fm_{layer}"
    picture = st.container()  # the grid first, its settings under it when presenting
    place = st.expander("Colour scale and how many channels") if present.is_on() else None
    with picture:
        scale, shown = grid_controls(c, key, linked=main, place=place)
    grid = features.channel_grid(fmap, scale=scale, max_channels=shown, pad=max(1, h // 56),
                                 columns=grid_columns(min(shown, c)))
    rgb = grid.to_rgb(COLORSCALE)
    picture.caption(f"**{layer}**: {h}x{w} pixels x {c} channels, showing the {shown} strongest (by mean activation), "
               f"{'one colour scale for the whole layer' if scale == 'shared' else 'each channel on its own scale'}."
               + (" Click a channel to enlarge it." if main else ""))
    if not main:
        with picture:
            st.plotly_chart(grid_figure(grid, rgb, fmap), key=f"{key}_grid", width="stretch")
    else:
        with picture:
            event = st.plotly_chart(grid_figure(grid, rgb, fmap), key="fm_grid", width="stretch",
                                    on_select="rerun", selection_mode="points")
        clicked = clicked_channel(event, grid)
        if clicked is not None and st.session_state.get("fm_last_click") != (layer, clicked):
            st.session_state["fm_last_click"] = (layer, clicked)
            st.session_state["fm_clicked_channel"] = clicked  # the channel box exists already this run
            st.rerun()  # the channel box is drawn above the grid: show the clicked channel there now
    with present.details("Download"):
        st.download_button("Grid as PNG", lambda: png_bytes(rgb, compress_level=1), icon=":material/download:",
                           file_name=f"{model_label}_{layer}_channels.png", mime="image/png",
                           key=f"{key}_download", on_click="ignore")
    return grid


def channel_close_up(model, model_label: str, layer: str, fmap: np.ndarray, seen: np.ndarray, channel: int):
    """The chosen channel over the photo, and the button painting what it wants to see, side by side."""
    h, w, c = fmap.shape
    left, middle, right = st.columns([0.9, 1.6, 1.3])
    links.default(OPACITY, 0.6)
    opacity = left.slider("Opacity", 0.0, 1.0, key=OPACITY)
    mean = float(np.nanmean(fmap[..., channel])) if np.isfinite(fmap[..., channel]).any() else 0.0
    rank = int(np.flatnonzero(features.channel_order(fmap) == channel)[0]) + 1
    left.metric("Mean activation", plain_number(mean), help="Channels are sorted by this, strongest first.")
    left.caption(f"Channel {channel}: rank {rank} of {c}. Bright = this channel's pattern is strong here; "
                 f"each of its {h}x{w} pixels sees a patch of the photo.")
    with middle:
        st.markdown(f"**Channel {channel} over the photo**")
        # no plotly toolbar: on a phone it sat over the colour bar's label, and the overlay needs no zoom
        present.plotly_chart(overlay_figure(seen, fmap[..., channel], opacity), height=380, key="fm_overlay",
                             width="stretch", config={"displayModeBar": False})
    with right:
        sections.channel_wants(model, model_label, layer, channel)


def channels_tab(model, model_label: str, layer: str, names: list[str], maps: dict, probs, seen: np.ndarray,
                 photo_caption: str) -> None:
    fmap = maps[layer]
    c = fmap.shape[2]
    order = features.channel_order(fmap)
    if st.session_state.get("fm_channel_for") != (model_label, layer):
        st.session_state["fm_channel_for"] = (model_label, layer)
        if not st.session_state.pop("fm_channel_from_link", False):
            st.session_state[CHANNEL] = int(order[0])  # a new layer: its strongest channel
    if "fm_clicked_channel" in st.session_state:
        st.session_state[CHANNEL] = st.session_state.pop("fm_clicked_channel")
    if not 0 <= st.session_state.get(CHANNEL, -1) < c:
        st.session_state[CHANNEL] = int(order[0])
    # presenting: a wider photo column (the side bar is wider too), so the photo is not smaller than normally
    left, right = st.columns([1.35, 2.6] if present.is_on() else [1, 2.6])
    with left:
        st.image(seen, caption=f"What the model sees ({seen.shape[1]}x{seen.shape[0]}); {photo_caption}",
                 width="stretch")
        with present.details("How the photo is fitted"):
            st.caption(GEOMETRY_NOTE)
        top5(model, probs, title="Top-5 predictions")
        channel = int(st.number_input(f"Channel (0 to {c - 1})", 0, c - 1, key=CHANNEL,
                                      help="Click a tile of the grid, or type a channel number."))
    with right:
        layer_grid(model_label, layer, fmap, main=True)
    st.subheader(f"One channel up close: {layer}, channel {channel}")
    channel_close_up(model, model_label, layer, fmap, seen, channel)
    others = st.multiselect("Compare with more layers", [n for n in names if n != layer], max_selections=3,
                            key=f"fm_more_{model_label}")
    for name in others:
        with st.expander(name, expanded=True):
            layer_grid(model_label, name, maps[name], main=False)


def pick_layer(names: list[str], after: dict) -> str:
    """The layer slider (one key for every model and mode; a layer the new list lacks maps across)."""
    current = st.session_state.get(LAYER)
    if current not in names:
        back = {act: conv for conv, act in after.items()}
        moved = after.get(current) or back.get(current)
        st.session_state[LAYER] = moved if moved in names else names[0]
    return st.select_slider("Layer (input to output)", names, key=LAYER,
                            format_func=lambda n: f"{names.index(n) + 1}. {n}")


def page_params() -> list[links.Param]:
    """Controls known before the model is loaded."""
    return [links.choice("fm_model", "model", choices(zoo.VARIANTS, user=True)),
            sample_param("fm_photo"),
            links.choice(MODE, "show", MODES),
            links.choice(SECTION, "section", SECTIONS),
            links.choice(explanations.VIEW, "explain", explanations.VIEWS),
            links.choice(explanations.BASELINE, "baseline", list(explanations.BASELINES))]


def layer_params(model, names: list[str], fmap: np.ndarray, probs) -> list[links.Param]:
    """Controls whose choices depend on the model and layer."""
    h, w, c = fmap.shape
    params = [links.choice(LAYER, "layer", names),
              links.number(CHANNEL, "channel", 0, c - 1, cast=int),
              links.choice(SCALE, "scale", list(SCALES)),
              links.number(WANTED, "channels", 1, 4096, cast=int),
              links.number(OPACITY, "opacity", 0.0, 1.0),
              links.number(sections.RF_ROW, "row", 0, h - 1, cast=int),
              links.number(sections.RF_COL, "col", 0, w - 1, cast=int)]
    if probs is not None:
        params.append(links.choice(sections.CAM_CLASS, "class", sections.class_options(model, probs), cast=int))
    try:
        _, rows, cols, _ = sections.hand_defaults(model, {})
        filters = int(sections.first_conv(model).filters)
    except (ValueError, TypeError):
        return params
    return params + [links.number(sections.HAND_ROW, "pixel_row", 0, rows - 1, cast=int),
                     links.number(sections.HAND_COL, "pixel_col", 0, cols - 1, cast=int),
                     links.number(sections.HAND_KERNEL, "filter", 0, filters - 1, cast=int)]


def restore_layer_links(params: list[links.Param]) -> None:
    """URL -> the layer-dependent controls; remembers whether the link chose the channel."""
    before = st.session_state.get(CHANNEL)
    links.restore(params)
    if st.session_state.get(CHANNEL) != before:
        st.session_state["fm_channel_from_link"] = True


keep_tab_widgets()
head = st.columns([1.6, 1])
head[0].title("Feature maps")
# On a phone the side bar is folded away behind "»": say where the photo and the model are (narrow screens only).
present.style('@media (min-width: 700px) { [data-testid="stElementContainer"]:has(.fm-phone-hint) '
              "{ display: none !important; } }", "fm-phone-hint")
st.markdown('<p class="fm-phone-hint">Photo and model: open the side bar with » at the top left.</p>',
            unsafe_allow_html=True)
with present.details("What this page shows"):  # the teacher says it; the projector shows the maps
    st.markdown("Each convolutional layer turns the photo into many **channels**: maps of where its filters "
                "find their pattern. Early layers find edges and colours; deeper layers are smaller, have more "
                "channels, and respond to textures and parts of objects.")

base_params = page_params()
links.restore(base_params)
with st.sidebar:  # settings in the side column: the main area is the demo
    photo_raw, photo_caption = photo_input("fm_photo")
    model_label, model = model_select("Model", key="fm_model", default=PREFERRED, variants=zoo.VARIANTS,
                                      user=True, suggest_pretrained=True)
if model is None:
    st.info("Turn on random weights in the side bar, or pick a model whose weights are on this computer.")
    st.stop()

after = features.conv_activations(model)
if not after:
    st.error(f"{title_of(model_label)} has no convolutional layers to show.")
    st.stop()
mode = MODES[0]
links.default(MODE, MODES[0])
if any(conv != act for conv, act in after.items()):
    with st.sidebar:
        mode = st.segmented_control("Show", MODES, key=MODE,
                                    help="Modern CNNs follow each convolution with batch norm and an activation "
                                         "(ReLU): 'after activation' is what the next layer sees.") or MODES[0]

seen = shared_seen_image(model, photo_raw)
maps, probs = compute(model, model_label, mode, photo_raw)
names = list(maps)
with st.container():
    pre_layer = st.session_state.get(LAYER) if st.session_state.get(LAYER) in names else names[0]
    more = layer_params(model, names, maps[pre_layer], probs)
    restore_layer_links(more[:1])
    layer = pick_layer(names, after)
more = layer_params(model, names, maps[layer], probs)
restore_layer_links(more[1:])

links.default(SECTION, SECTIONS[0])
links.default(explanations.VIEW, explanations.VIEWS[0])
links.default(explanations.BASELINE, "blurred")
tabs = st.tabs(SECTIONS, key=SECTION, on_change="rerun")
with tabs[0]:
    if tabs[0].open:
        channels_tab(model, model_label, layer, names, maps, probs, seen, photo_caption)
with tabs[1]:
    if tabs[1].open:
        explanations.where_it_looks(model, title_of(model_label), photo_raw, seen, probs, sections.where_it_looks)
with tabs[2]:
    if tabs[2].open:
        channel = st.session_state.get(CHANNEL)
        if channel is None or not 0 <= channel < maps[layer].shape[2]:
            channel = int(features.channel_order(maps[layer])[0])
        sections.receptive_field_section(model, layer, maps[layer], channel, seen)
with tabs[3]:
    if tabs[3].open:
        sections.conv_by_hand_section(model, photo_raw, maps)
with tabs[4]:
    if tabs[4].open:
        st.markdown("**Smaller and deeper**: the maps shrink while the channels multiply")
        present.plotly_chart(shape_chart(maps, layer), height=320, key="fm_shapes", width="stretch")

all_params = base_params + more
links.publish(all_params)
with head[1]:
    st.write("")
    links.share(all_params, key="fm_share")
