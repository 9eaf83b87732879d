"""The "why" sections of the Feature maps page (issue 10): where the network looks (Grad-CAM), what one
channel wants to see (its ideal image), what one position of a map sees (receptive field) and one
output pixel of the first convolution worked out by hand.

Each section is one function that draws its controls and its output side by side (one screen at
1440x900); the page calls them inside its tabs. Widget keys are module constants so the page can
mirror them into lesson links (:mod:`ui.links`).
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import explorer
from explorer.models import classifier
from explorer.inspect import features
from explorer.optvis.batching import paint_channel
from explorer.inspect.by_hand import conv_by_hand, first_conv
from explorer.inspect.gradcam import grad_cam_details, last_conv_layer
from explorer.plain_numbers import plain_number, plain_probability, plain_times
from explorer.inspect.receptive import receptive_field
from ui import present
from ui.runs import watch

CAM_CLASS = "fm_cam_class"
RF_ROW, RF_COL = "fm_rf_row", "fm_rf_col"
HAND_ROW, HAND_COL, HAND_KERNEL = "fm_hand_row", "fm_hand_col", "fm_hand_kernel"
WANT_STEPS = 50  # a short run: the channel's pattern shows, and a class of thirty can wait for it
HEAT_SCALE = "Turbo"
RGB_NAMES = ("red", "green", "blue")


def _minus(value: float, digits: int) -> str:
    """A number with a real minus sign (readable from the back row), never 'nan'."""
    if not np.isfinite(value):
        return "not a number"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text.replace("-", "−")  # no "−0.00"


# ---------------------------------------------------------------- Where does the network look?

def class_options(model, probs) -> list[int]:
    """The classes the Grad-CAM picker offers: the top 5 of this photo, best first."""
    return [i for i, _, _ in classifier.top_k(model, probs, 5)]


def heat_overlay(photo: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The heat map over the photo: hot places in colour, cold places keep the photo (uint8 HxWx3)."""
    heat = features.colorize(np.clip(np.rint(cam * 255), 0, 255).astype(np.uint8), HEAT_SCALE).astype(np.float32)
    alpha = (0.15 + 0.55 * cam)[..., None]
    return np.clip(np.rint(photo * (1 - alpha) + heat * alpha), 0, 255).astype(np.uint8)


def where_it_looks(model, model_title: str, photo_raw: np.ndarray, seen: np.ndarray, probs) -> None:
    """Grad-CAM over the photo the model saw, for a class picked from the top 5 (default: top 1)."""
    if probs is None:
        st.info("This model has no classifier on top, so there is no class to explain.")
        return
    options = class_options(model, probs)
    names = classifier.class_names_of(model)
    if st.session_state.get(CAM_CLASS) not in options:
        st.session_state[CAM_CLASS] = options[0]
    left, right = st.columns([1, 2.4])
    with left:
        target = st.radio("Explain which class?", options, key=CAM_CLASS,
                          format_func=lambda i: f"{names[i]} ({plain_probability(float(probs[i]))})",
                          help="The network's five most likely classes for this photo, most likely first.")
        try:
            layer = last_conv_layer(model)
            cam, cam_probs, cls = grad_cam_details(model, photo_raw, target)
        except ValueError as exc:
            st.error(str(exc))
            return
        st.markdown("Red and yellow: the places whose features raise the network's belief in "
                    f"**{names[cls]}** most. Blue: no evidence for it.")
    # the map is at the photo's size; show it on what the model saw (the one geometry)
    view = classifier.model_view(cam[None, :, :, None], classifier.input_size(model))[0, :, :, 0].numpy()
    view = np.clip(view, 0.0, 1.0)
    rank = options.index(cls) + 1
    with right:
        pics = st.columns(2)
        pics[0].image(seen, caption="What the model sees", width="stretch")  # the columns size them
        pics[1].image(heat_overlay(seen.astype(np.float32), view), width="stretch",
                      caption=f"Grad-CAM for {names[cls]}")
    left.caption(f"Ran Grad-CAM on {model_title}: the gradient of log p({names[cls]}) weights the "
                 f"{layer} feature maps (the last layer with maps). p({names[cls]}) = "
                 f"{plain_probability(float(cam_probs[cls]))}, number {rank} of the top 5.")


# ---------------------------------------------------------------- What does this channel want to see?

def _want_key(model_label: str, layer: str, channel: int) -> tuple:
    return (model_label, layer, int(channel))


def channel_wants(model, model_label: str, layer: str, channel: int) -> None:
    """A button painting the channel's ideal image (Lucid's channel objective), progress beside it."""
    done = st.session_state.setdefault("fm_wants", {})
    key = _want_key(model_label, layer, channel)
    st.markdown(f"**What does channel {channel} want to see?**")
    press = st.button("Paint its ideal image", key="fm_want_button",
                      icon=":material/brush:", type="primary",
                      help=f"Starts from noise and changes the picture in {WANT_STEPS} steps, so this channel "
                           "lights up as strongly as it can over the whole map.")
    place = st.empty()  # Stop, above the picture
    progress = st.empty()
    picture = st.empty()
    if press:
        result, error = _paint_channel(model, layer, channel, place, progress, picture)
        progress.empty()
        if error:
            st.error(error)
        if result is not None:
            done[key] = result
    result = done.get(key)
    if result is None:
        progress.caption("Press the button: 10 to 30 seconds on a laptop, longer when the class shares "
                         "the server.")
        return
    start, end = result.history[0], result.history[-1]
    grew = f" ({plain_times(end / start)})" if start > 0 and end > 0 else ""
    progress.caption(f"Its mean activation went from {plain_number(start)} (after the first step from noise) "
                     f"to {plain_number(end)}{grew}.")
    picture.image(result.image, width="stretch",
                  caption=f"The picture that makes channel {channel} of {layer} strongest, "
                          f"after {result.steps} steps ({result.seconds:.0f} s) of the Ideal class image "
                          "page's best-looking recipe.")


def _paint_channel(model, layer: str, channel: int, place, progress, picture):
    """One short optimisation (computed once for the class), animated in place; returns (result or None,
    error message or None)."""
    def draw(snap):
        progress.progress(snap.step / WANT_STEPS, text=f"Painting: step {snap.step} of {WANT_STEPS}")
        picture.image(snap.image, width="stretch", caption=f"Step {snap.step} of {WANT_STEPS}")

    try:
        [done] = watch(paint_channel(model, layer, channel, WANT_STEPS), draw, key="fm_channel_watch",
                       place=place)
    except ValueError as exc:
        return None, str(exc)
    return done.result, done.error


# ---------------------------------------------------------------- Receptive fields

def _positions_figure(fmap2d: np.ndarray, row: int, col: int) -> go.Figure:
    """One channel's map with an invisible marker per position (click to pick) and the chosen one ringed."""
    h, w = fmap2d.shape
    z = np.nan_to_num(fmap2d.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    fig = go.Figure(go.Heatmap(z=z, colorscale="Viridis", showscale=False, hoverinfo="skip"))
    rows, cols = np.mgrid[0:h, 0:w]
    fig.add_scatter(x=cols.ravel(), y=rows.ravel(), mode="markers", showlegend=False,
                    marker=dict(symbol="square", size=max(4, min(40, 420 // max(h, w))), opacity=0),
                    customdata=np.stack([rows.ravel(), cols.ravel()], axis=1),
                    hovertemplate="row %{customdata[0]}, column %{customdata[1]}<extra>click</extra>")
    fig.add_shape(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5,
                  line=dict(color="#ff2d55", width=4))
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), clickmode="event+select", dragmode=False)
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x")
    return fig


def _patch_figure(seen: np.ndarray, box: tuple[int, int, int, int]) -> go.Figure:
    top, left, bottom, right = box
    fig = go.Figure(go.Image(z=seen, hoverinfo="skip"))
    fig.add_shape(type="rect", x0=left - 0.5, x1=right - 0.5, y0=top - 0.5, y1=bottom - 0.5,
                  line=dict(color="#ff2d55", width=4), fillcolor="rgba(255,45,85,0.12)")
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), dragmode=False)
    fig.update_xaxes(visible=False, range=[-0.5, seen.shape[1] - 0.5])
    fig.update_yaxes(visible=False, range=[seen.shape[0] - 0.5, -0.5], scaleanchor="x")
    return fig


def clicked_position(event) -> tuple[int, int] | None:
    """(row, col) of a click on the positions chart, or None."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        if p.get("curve_number") == 1 and p.get("x") is not None and p.get("y") is not None:
            return int(round(p["y"])), int(round(p["x"]))
    return None


def receptive_field_section(model, layer: str, fmap: np.ndarray, channel: int, seen: np.ndarray) -> None:
    """Click a position of the layer's map: the patch of the photo it sees, drawn on the photo."""
    h, w = fmap.shape[:2]
    try:
        field = receptive_field(model, layer)
    except ValueError as exc:
        st.info(f"No receptive field for this layer: {exc}")
        return
    if not (0 <= st.session_state.get(RF_ROW, -1) < h and 0 <= st.session_state.get(RF_COL, -1) < w):
        st.session_state[RF_ROW], st.session_state[RF_COL] = h // 2, w // 2  # a new layer: its centre
    event_key = "fm_rf_map"
    event = st.session_state.get(event_key)
    clicked = clicked_position(event)
    if clicked is not None and st.session_state.get("fm_rf_last_click") != clicked:
        st.session_state["fm_rf_last_click"] = clicked
        st.session_state[RF_ROW], st.session_state[RF_COL] = clicked
    left, middle, right = st.columns([1, 1.6, 1.6])
    with left:
        row = int(st.number_input("Row", 0, h - 1, key=RF_ROW))
        col = int(st.number_input("Column", 0, w - 1, key=RF_COL))
    top, lft, bottom, rgt = field.box(row, col)
    size_h, size_w = field.size
    in_h, in_w = field.input_size
    with middle:
        st.markdown(f"**{layer}**, channel {channel}: click a position")
        present.plotly_chart(_positions_figure(fmap[..., channel], row, col), height=380, key=event_key,
                             width="stretch", on_select="rerun", selection_mode="points")
    with right:
        st.markdown(f"**The patch it sees: {size_h}x{size_w} pixels**")
        present.plotly_chart(_patch_figure(seen, (top, lft, bottom, rgt)), height=380, key="fm_rf_photo",
                             width="stretch")
    seen_part = (bottom - top, rgt - lft)
    clipped = "" if seen_part == (size_h, size_w) else (
        f" Near the edge part of it falls on the padding around the photo, so {seen_part[0]}x{seen_part[1]} "
        "pixels of the photo are inside it.")
    with left:
        st.markdown(f"Position (row {row}, column {col}) of the {h}x{w} map sees a **{size_h}x{size_w}-pixel** "
                    f"patch of the {in_h}x{in_w} input.{clipped}")
        st.caption(f"Neighbouring positions are {field.stride[0]} pixels apart. Computed from the layers' "
                   "kernel sizes and strides (the theoretical receptive field); the centre of the patch "
                   "counts most.")


# ---------------------------------------------------------------- Convolution by hand

def _table_html(values: np.ndarray, digits: int = 2) -> str:
    """A number grid that always fits its column: the font shrinks with the column's width (a container
    query: at most 1em, and each of up to 8 characters a column keeps its room), so grids never overlap or
    run past the window, even at presentation size with negative values (issue 23)."""
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(_minus(float(v), digits))}</td>" for v in row) + "</tr>"
                    for row in values)
    cols = max(1, values.shape[1] if values.ndim == 2 else 1)
    fit = f"{100 / (cols * 5.4):.2f}cqw"  # a cell: 8 monospace characters (0.6em each) and its padding
    cells = cells.replace("<td>", '<td style="padding: 0.1em 0.2em">')
    return ('<div style="container-type: inline-size; width: 100%">'
            f'<table style="font-family: monospace; font-size: min(1em, {fit}); text-align: right; '
            f'border-collapse: collapse; margin: 0.2em 0 0.6em 0; width: auto">{cells}</table></div>')


def hand_defaults(model, maps: dict) -> tuple[str, int, int, int]:
    """(first conv's name, output rows, output cols, its strongest channel in this photo's maps)."""
    conv = first_conv(model)
    rows, cols, filters = (int(d) for d in conv.output.shape[1:4])
    after = features.activation_of(model, conv.name)
    fmap = maps.get(conv.name, maps.get(after))
    strongest = int(features.channel_order(fmap)[0]) if fmap is not None and fmap.shape[2] == filters else 0
    return conv.name, rows, cols, strongest


def conv_by_hand_section(model, photo_raw: np.ndarray, maps: dict) -> None:
    """One output pixel of the first convolution, multiplied out and summed, next to the layer's value."""
    try:
        name, rows, cols, strongest = hand_defaults(model, maps)
    except ValueError as exc:
        st.info(str(exc))
        return
    filters = int(first_conv(model).filters)
    if st.session_state.get("fm_hand_for") != name:
        st.session_state["fm_hand_for"] = name
        st.session_state.setdefault(HAND_ROW, rows // 2)
        st.session_state.setdefault(HAND_COL, cols // 2)
        st.session_state.setdefault(HAND_KERNEL, strongest)
    for key, top in ((HAND_ROW, rows - 1), (HAND_COL, cols - 1), (HAND_KERNEL, filters - 1)):
        st.session_state[key] = min(max(int(st.session_state[key]), 0), top)
    # presenting: the controls in a row above, so the three grids get the page's whole width
    controls, work = (st.columns(3), st.container()) if present.is_on() else (st.columns([1, 4]), None)
    if work is None:
        controls, work = controls
        controls = [controls, controls, controls]
    with controls[0]:
        row = int(st.number_input("Output row", 0, rows - 1, key=HAND_ROW))
    with controls[1]:
        col = int(st.number_input("Output column", 0, cols - 1, key=HAND_COL))
    with controls[2]:
        kernel = int(st.number_input(f"Filter (0 to {filters - 1})", 0, filters - 1, key=HAND_KERNEL,
                                     help="Which of the layer's filters: each makes one output channel."))
    hand = conv_by_hand(model, photo_raw, (row, col), kernel)
    kh, kw, cin = hand.patch.shape
    with work:
        st.markdown(f"**{hand.layer}**, the first convolution: each output number is a {kh}x{kw}x{cin} patch of "
                    "its input times the filter's weights, all added up (the input is the photo after the "
                    "model's own preprocessing).")
        n = hand.products.size
        bias = (f" plus the bias {_minus(hand.bias, 4)} gives **{_minus(hand.pre_activation, 4)}**"
                if first_conv(model).use_bias else " (no bias: the batch norm after it shifts the values instead)")
        fused = "" if hand.activation == "linear" else (
            f" The layer's own {hand.activation} turns that into **{_minus(hand.by_hand, 4)}**.")
        same = "the same number" if hand.error < 1e-3 else f"{_minus(hand.error, 4)} apart"
        st.markdown(f"All {n} products add up to **{_minus(hand.total, 4)}**{bias}.{fused} "
                    f"The network computed **{_minus(hand.layer_value, 4)}** at row {row}, column {col} of "
                    f"channel {kernel}: {same}.")
        if not hand.kernel.any():
            st.caption(f"Filter {kernel}'s weights are all 0: training switched it off, so it adds nothing.")
        if hand.after_layer != hand.layer:
            st.caption(f"Then {hand.after_layer} (batch norm and activation) makes it "
                       f"{_minus(hand.after, 4)}: that is the value in the feature map of {hand.after_layer}.")
        shown = min(cin, 3)
        for c in range(shown):
            label = RGB_NAMES[c] if cin == 3 else f"input channel {c}"
            cells = st.columns(3)
            cells[0].markdown(f"**{label}**: input patch{_table_html(hand.patch[..., c])}", unsafe_allow_html=True)
            cells[1].markdown(f"× filter weights{_table_html(hand.kernel[..., c])}", unsafe_allow_html=True)
            cells[2].markdown(f"= products, adding up to **{_minus(float(hand.products[..., c].sum()), 3)}**"
                              f"{_table_html(hand.products[..., c])}", unsafe_allow_html=True)
        if cin > shown:
            st.caption(f"{cin - shown} more input channels are part of the sum (not drawn).")
