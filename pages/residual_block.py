"""Residual block: F(x), x and F(x)+x on a photo; gradient flow with and without skip connections;
global average pooling takes any input size; Inception-ResNet block A combines both ideas."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.inspect import blocks
from explorer.plain_numbers import plain_number, plain_times
from ui import links, present
from ui.models import cached_model
from ui.photo import photo_input
from ui.tensors import show_channels, top_channels
from ui.shell import require_shell

require_shell()

st.title("Residual block")
st.markdown(
    "A residual block does not learn its output directly: it learns a correction **F(x)** and adds the "
    "input back, **relu(F(x) + x)**. If the best thing to do is nothing, F(x) = 0 is easy to learn, and "
    "the gradient always has a short path back through the addition. That is how ResNet trains 50, 101 "
    "or 152 layers.")
RANDOM_NOTE = ("Random weights (the shapes and the arithmetic are real; the filters are not trained), "
               "so look at how the tensors combine, not at what they detect.")


@st.cache_data(show_spinner=False, max_entries=16)
def run_block(kind_key: tuple, photo: np.ndarray, which: str) -> dict:
    if which == "residual":
        return blocks.residual_outputs(*kind_key, photo)
    return blocks.inception_resnet_outputs(*kind_key, photo)


@st.cache_data(show_spinner=False, max_entries=16)
def parameters(kind_key: tuple, which: str) -> dict:
    if which == "residual":
        return blocks.residual_parameters(*kind_key)
    return blocks.inception_resnet_parameters(*kind_key)


@st.cache_data(show_spinner=False, max_entries=32)
def gradient_flow(depth: int, activation: str) -> pd.DataFrame:
    return pd.DataFrame({"layer": np.arange(depth + 1), **blocks.gradient_flow(depth, activation)})


@st.cache_data(show_spinner="Running ResNet-50 at both sizes...", max_entries=8)
def gap_run(photo: np.ndarray, sizes: tuple) -> list[tuple]:
    return blocks.pooled_shapes(cached_model("resnet50", None, include_top=False), photo, sizes)


SIZES = ["160x160", "224x224", "299x299", "320x480", "480x320", "512x512"]
LINKS = [links.choice("res_kind", "block", ["basic", "bottleneck"]),
         links.choice("res_shortcut", "shortcut", ["identity", "projection"]),
         links.choice("res_stride", "stride", [1, 2], cast=int),
         links.number("res_filters", "filters", 16, 128, cast=int, options=[16, 32, 64, 128]),
         links.number("res_depth", "depth", 2, 50, cast=int),
         links.choice("res_act", "activation", ["sigmoid", "relu"]),
         links.choice("res_gap_a", "size1", SIZES), links.choice("res_gap_b", "size2", SIZES),
         links.number("res_ir_scale", "scale", 0.0, 1.0)]
links.restore(LINKS)
for key, value in [("res_kind", "basic"), ("res_shortcut", "identity"), ("res_stride", 1), ("res_filters", 64),
                   ("res_depth", 30), ("res_act", "sigmoid"), ("res_gap_a", "224x224"), ("res_gap_b", "320x480"),
                   ("res_ir_scale", 0.17)]:
    links.default(key, value)

photo, source = photo_input("residual_photo")
photo = blocks.square_photo(photo, 224)
links.share(LINKS, key="res_share")

# --- 1. One residual block -------------------------------------------------------------------------
st.header("F(x), x and F(x) + x")
# presenting, the side bar is wider: the tensors' column keeps their normal size (the controls give way)
left, right = st.columns([1, 3], gap="medium") if present.is_on() else st.columns([1, 2], gap="large")
with left:
    st.image(photo, caption=f"{source}, 224x224", width=present.px(180))
    kind = st.segmented_control("Block", ["basic", "bottleneck"], key="res_kind", required=True)
    shortcut = st.segmented_control("Shortcut", ["identity", "projection"], key="res_shortcut", required=True)
    stride = st.segmented_control("Stride", [1, 2], key="res_stride", required=True)
    filters = st.select_slider("Filters", [16, 32, 64, 128], key="res_filters")
out_channels = filters if kind == "basic" else 4 * filters
projection = shortcut == "projection"
if not projection and stride == 2:
    right.warning("An identity shortcut cannot halve the size (x and F(x) must have the same shape to be "
                  "added), so this block uses a **projection** shortcut: a 1x1 conv with stride 2.")
    projection = True
in_channels = out_channels if not projection else 64  # like ResNet: stage entry blocks take 64 channels
key = (in_channels, filters, kind, stride, projection)
with right:
    with st.spinner("Running the block..."):
        t = run_block(key, photo, "residual")
    st.caption(f"Photo -> random stem (conv 7x7/2, max-pool, conv 1x1) -> x: {'x'.join(map(str, t['x'].shape[1:]))}. "
               + RANDOM_NOTE)
    channels = top_channels(t["relu(F(x) + x)"], 2)
    # two tensors a row, two channels each: four in a row left 45-65 px a picture (issue 23)
    for pair in (["x (shortcut)", "F(x)"], ["F(x) + x", "relu(F(x) + x)"]):
        for col, name in zip(st.columns(2), pair):
            with col:
                show_channels(t[name], channels=channels, title=name)
    hand = parameters(key, "residual")
    st.markdown(
        f"**{kind.capitalize()} block, {'projection' if projection else 'identity'} shortcut, stride {stride}:** "
        f"{in_channels} channels in, {out_channels} out. Parameters by hand: F(x) {hand['F(x)']:,} + shortcut "
        f"{hand['shortcut']:,} = **{hand['total']:,}**; Keras counts **{hand['keras']:,}**. "
        + ("The identity shortcut is free: it adds no parameter." if not projection else
           "The projection shortcut (1x1 conv + BatchNorm) matches the shapes so they can be added."))

# --- 2. Gradient flow ------------------------------------------------------------------------------
st.header("Gradient flow: why skip connections matter")
st.markdown(
    "Stacks of the same 3x3 conv layers, at initialisation. We back-propagate one batch and plot how large "
    "the gradient is when it reaches each layer (log scale), as a share of what left the last layer.\n"
    "- **plain**, built the pre-2015 way (no normalisation): the gradient shrinks layer after layer, so the "
    "first layers barely learn. This is the *vanishing gradient*.\n"
    "- **residual**, built the way ResNet does (He initialisation, batch norm, x + F(x)): the gradient "
    "comes back through the additions at full size, at any depth.\n"
    "- **plain + batch norm** (ResNet's recipe without the skips): normalisation stops the vanishing, as "
    "the ResNet paper notes, but with ReLU the gradient *grows* with depth instead: still out of balance.")
c1, c2 = st.columns([2, 1])
depth = c1.slider("Depth (conv layers)", 2, 50, key="res_depth")
activation = c2.segmented_control("Activation", ["sigmoid", "relu"], key="res_act", required=True)
# a deep stack takes seconds to build (13 s at depth 50 on a busy laptop): say so while it runs
with st.spinner(f"Building three stacks of {depth} layers and back-propagating once"
                + (f" (about {max(2, depth // 4)} s)..." if depth > 20 else "...")):
    flow = gradient_flow(depth, activation)
CURVES = {"plain": ("#d62728", "solid"), "plain + batch norm": ("#7f7f7f", "dot"), "residual": ("#2ca02c", "solid")}
fig = go.Figure()
underflow = {}
for name, (colour, dash) in CURVES.items():
    values = flow[name].to_numpy() / flow[name].iloc[-1]
    underflow[name] = int((values <= 0).sum())
    fig.add_trace(go.Scatter(x=flow["layer"], y=np.where(values > 0, values, np.nan), name=name,
                             mode="lines+markers", line=dict(color=colour, dash=dash, width=3)))
shown = flow[list(CURVES)].to_numpy() / flow[list(CURVES)].iloc[-1].to_numpy()
shown = shown[shown > 0]
# Ticks at every power of 10 over a short range, every 1,000x over a long one, and the axis spans whole
# ticks: with ReLU the curve rose to "× 290" with no label above "same" (the next tick, 1,000, was off the axis).
low, high = int(np.floor(np.log10(shown.min()))), int(np.ceil(np.log10(shown.max())))
every = 1 if high - low <= 6 else 3
low, high = (low // every) * every, -((-high) // every) * every
ticks = [10.0 ** e for e in range(low, high + 1, every)]
tick_text = ["same" if v == 1 else f"× {plain_number(v)}" if v > 1 else f"÷ {plain_number(1 / v)}" for v in ticks]
fig.update_layout(height=420, margin=dict(l=0, r=0, t=10, b=0), yaxis_type="log",
                  yaxis=dict(tickvals=ticks, ticktext=tick_text, range=[low - 0.1, high + 0.1]),
                  xaxis_title="layer (0 = first, next to the input)", font=dict(size=16),
                  yaxis_title="gradient at the layer vs the last layer", legend=dict(orientation="h", y=1.1))
present.plotly_chart(fig, key="res_flow")
first = {n: flow[n].iloc[0] / flow[n].iloc[-1] for n in CURVES}
st.caption(f"Gradient at the first layer, compared with the last: plain **{plain_times(first['plain'])}**; "
           f"plain + batch norm **{plain_times(first['plain + batch norm'])}**; residual "
           f"**{plain_times(first['residual'])}**."
           + (f" {underflow['plain']} plain layer(s) got a gradient so small the computer stores it as 0; they "
              "are not drawn." if underflow["plain"] else "")
           + " The residual line is flat because each block starts as *do nothing* (its last batch norm's "
             "scale starts at 0, as in large-scale ResNet training): the gradient passes the additions untouched.")

# --- 3. Global average pooling ---------------------------------------------------------------------
st.header("Any input size, thanks to global average pooling")
st.markdown(
    "ResNet's convolutions work on any grid; at the end, **GlobalAveragePooling** averages each of the "
    "2048 feature maps to one number, whatever its height and width. So the classifier on top always "
    "receives 2048 numbers, and the same network takes a 224x224 or a 320x480 photo.")
c1, c2 = st.columns(2)
first = c1.selectbox("First size", SIZES, key="res_gap_a")
second = c2.selectbox("Second size", SIZES, key="res_gap_b")
sizes = tuple(tuple(int(v) for v in s.split("x")) for s in (first, second))
rows = gap_run(photo, sizes)
st.dataframe(pd.DataFrame([{"input (h x w)": f"{h}x{w}", "last feature maps": str(f[1:]),
                            "after GlobalAveragePooling": str(p[1:])} for (h, w), f, p in rows]),
             hide_index=True, width="stretch")
st.caption("ResNet-50 without its top, random weights: the shapes are what matters here.")

# --- 4. Inception-ResNet ---------------------------------------------------------------------------
st.header("Both ideas at once: Inception-ResNet block A")
st.markdown(
    "Inception-ResNet-v2 runs Inception-style parallel branches, concatenates them, mixes them back to the "
    "input width with a linear 1x1 conv, **scales** the result (0.1-0.3 keeps very deep training stable) "
    "and adds it to the input: relu(x + scale · F(x)).")
left, right = st.columns([2, 4], gap="medium") if present.is_on() else st.columns([2, 3], gap="large")
scale = left.slider("Scale of F(x)", 0.0, 1.0, step=0.01, key="res_ir_scale")
hand = parameters((scale,), "inception_resnet")
keras_count = hand.pop("keras")
# A markdown table: its numbers are never cut off by a narrow column (a dataframe's were).
left.markdown("| part | parameters |\n|:--|--:|\n"
              + "\n".join(f"| {k} | **{v:,}** |" if k == "total" else f"| {k} | {v:,} |" for k, v in hand.items()))
left.caption(f"Keras counts {keras_count:,}.")
with right:
    with st.spinner("Running the block..."):
        t = run_block((scale,), photo, "inception_resnet")
    st.caption(f"Photo 140x140 -> random stem -> x: {'x'.join(map(str, t['x'].shape[1:]))}. " + RANDOM_NOTE)
    names = ["branch 1x1", "branch 1x1 -> 3x3", "branch 1x1 -> 3x3 -> 3x3", "concatenated"]
    for pair in (names[:2], names[2:]):  # two a row: readable from the back (issue 23)
        for col, name in zip(st.columns(2), pair):
            with col:
                show_channels(t[name], n=2, title=name)
    channels = top_channels(t["relu(x + scale * F(x))"], 2)
    for col, name in zip(st.columns(3), ["x", "F(x): 1x1 linear, scaled", "relu(x + scale * F(x))"]):
        with col:
            show_channels(t[name], channels=channels[:1], title=name)
links.publish(LINKS)
