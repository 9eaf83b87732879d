"""Inception block: GoogLeNet's four parallel branches on a real photo, why 1x1 reductions matter,
and the three classifier heads whose losses are summed during training."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import explorer
from explorer.inspect import blocks
from explorer.plain_numbers import plain_probability
from ui.models import load_with_notice
from ui import links, present
from ui.photo import photo_input
from ui.tensors import show_channels, top_channels
from ui.shell import require_shell

require_shell()

st.title("Inception block")
st.markdown(
    "GoogLeNet does not choose between a 1x1, a 3x3 and a 5x5 convolution: it runs them **in parallel** "
    "and concatenates the results on the channel axis. Cheap 1x1 convolutions first *reduce* the "
    "channels, so the expensive 3x3 and 5x5 stay affordable. The default widths are **inception 3a** "
    "from the paper: 192 channels in, 64 + 128 + 32 + 32 = 256 out.")

BRANCH_COLOURS = {"1x1": "#1f77b4", "1x1 -> 3x3": "#ff7f0e", "1x1 -> 5x5": "#2ca02c", "pool -> 1x1": "#9467bd"}
SLIDERS = [  # key, label, default (inception 3a)
    ("filters_1x1", "1x1 branch", 64),
    ("filters_3x3_reduce", "3x3 branch: 1x1 reduce to", 96),
    ("filters_3x3", "3x3 branch: 3x3 conv", 128),
    ("filters_5x5_reduce", "5x5 branch: 1x1 reduce to", 16),
    ("filters_5x5", "5x5 branch: 5x5 conv", 32),
    ("filters_pool_proj", "pool branch: 1x1 after max-pool", 32),
]


@st.cache_data(show_spinner=False, max_entries=8)
def stem_features(photo: np.ndarray) -> np.ndarray:
    return blocks.inception_stem(photo)


@st.cache_data(show_spinner=False, max_entries=32)
def block_outputs(widths: tuple, features: np.ndarray) -> dict:
    return blocks.inception_outputs(dict(widths), features)


@st.cache_data(show_spinner=False, max_entries=8)
def head_outputs(_model, model_key: str, photo: np.ndarray, label: int):
    return blocks.googlenet_heads(_model, photo, label)


def reset_widths():
    for k, _, default in SLIDERS:
        st.session_state[f"incep_{k}"] = default


names = explorer.class_names()
LINKS = [links.number(f"incep_{k}", k.removeprefix("filters_"), 1, 384, cast=int) for k, _, _ in SLIDERS]
LINKS.append(links.choice("incep_label", "label", range(len(names)), cast=int))
links.restore(LINKS)
for k, _, default in SLIDERS:
    links.default(f"incep_{k}", default)
links.default("incep_label", explorer.TABBY)

left, right = st.columns([1, 2], gap="large")
with left:
    photo, source = photo_input("inception_photo")
    photo = blocks.square_photo(photo, 224)
    st.image(photo, caption=f"{source}, centre-cropped to 224x224", width=224)
    st.markdown("**Branch widths** (output channels)")
    widths = {k: st.slider(label, 1, 384, key=f"incep_{k}") for k, label, _ in SLIDERS}
    st.button("Back to inception 3a", key="incep_reset", on_click=reset_widths)
    links.share(LINKS, key="incep_share")

key = tuple(sorted(widths.items()))
with right:
    with st.spinner("Running the stem and the block..."):
        features = stem_features(photo)
        outputs = block_outputs(key, features)
    st.info("The stem (conv 7x7/2, max-pool, conv 1x1, conv 3x3, max-pool) and the block have **random "
            "weights**: Keras has no pretrained GoogLeNet. The shapes and parameter counts are exactly the "
            "paper's; the pictures show what random filters pass on, not learned features.",
            icon=":material/info:")
    st.markdown(f"Photo 224x224x3 -> stem -> **{'x'.join(map(str, features.shape[1:]))}** -> four branches:")
    cols = st.columns(4)
    for col, (branch, colour) in zip(cols, BRANCH_COLOURS.items()):
        with col:
            st.markdown(f"<span style='color:{colour}'>■</span> **{branch}**", unsafe_allow_html=True)
            show_channels(outputs[branch], n=2)
            st.caption("x".join(map(str, outputs[branch].shape[1:])))
    concat = outputs["concatenated"]
    st.markdown(f"**Concatenated on channels**: {concat.shape[-1]} = "
                + " + ".join(str(outputs[b].shape[-1]) for b in BRANCH_COLOURS) + " channels, same 28x28 grid.")
    bar = go.Figure()
    for branch, colour in BRANCH_COLOURS.items():
        bar.add_trace(go.Bar(y=["channels"], x=[outputs[branch].shape[-1]], name=branch, orientation="h",
                             marker_color=colour, hovertemplate=f"{branch}: %{{x}} channels<extra></extra>"))
    bar.update_layout(barmode="stack", height=130, margin=dict(l=0, r=0, t=0, b=0), showlegend=True,
                      legend=dict(orientation="h", y=-0.5), xaxis_title=None)
    present.plotly_chart(bar, key="incep_concat_bar")
    # Each branch's strongest channel, found in the concatenation (a branch's first channel can be all
    # zero after ReLU with random weights, which showed as a black square).
    starts = np.cumsum([0] + [outputs[b].shape[-1] for b in BRANCH_COLOURS][:-1]).tolist()
    picks = [start + top_channels(outputs[b], 1)[0] for start, b in zip(starts, BRANCH_COLOURS)]
    show_channels(concat, channels=picks, width=100,
                  title=f"The concatenation: channels {', '.join(map(str, picks))} are each branch's strongest")

st.header("Why 1x1 reductions matter")
counts = blocks.inception_parameters(widths)
hand, naive, keras_count = counts["by_hand"], counts["naive"], counts["keras"]
rows = [{"design": "this Inception block (with 1x1 reductions)", "parameters": hand["total"]}]
rows += [{"design": k, "parameters": v} for k, v in naive.items()]
left, right = st.columns([3, 2])
with left:
    fig = go.Figure(go.Bar(x=[r["parameters"] for r in rows], y=[r["design"] for r in rows], orientation="h",
                           marker_color=["#2ca02c", "#d62728", "#7f7f7f"], text=[f"{r['parameters']:,}" for r in rows],
                           textposition="auto"))
    fig.update_layout(height=230, margin=dict(l=0, r=0, t=10, b=0), xaxis_title="parameters", xaxis_tickformat=",d",
                      yaxis=dict(autorange="reversed"))
    present.plotly_chart(fig, key="incep_params_bar")
with right:
    st.dataframe(pd.DataFrame([{"branch": k, "parameters": v} for k, v in hand.items()]), hide_index=True,
                 width="stretch", column_config={"parameters": st.column_config.NumberColumn(format="localized")})
    st.caption(f"Counted by hand (k·k·in·out + out per conv): **{hand['total']:,}**; Keras counts "
               f"**{keras_count:,}**. A single 5x5 conv with the same {concat.shape[-1]} outputs needs "
               f"{list(naive.values())[1] / hand['total']:.1f}x as many.")

st.header("GoogLeNet's three classifier heads")
st.markdown(
    "GoogLeNet is 22 layers deep. To help gradients reach the early layers, two **auxiliary classifiers** "
    "branch off after inception 4a and 4d. During training their losses are added to the main loss, "
    f"weighted by {blocks.AUX_WEIGHT}: **loss = main + 0.3 · aux1 + 0.3 · aux2**. At test time only "
    "the main head is used.")
model = load_with_notice("googlenet", key="incep_googlenet")
label = st.selectbox("True label of the photo", range(len(names)),
                     format_func=lambda i: f"{i}: {names[i]}", key="incep_label")
heads, total, parts = head_outputs(model, model.name, photo, label)
cols = st.columns(4)
for col, (head, probs) in zip(cols, zip(("main", "aux1", "aux2"), heads)):
    top = explorer.decode(probs[0], top=1)[0]
    col.metric(f"{head} loss", f"{parts[head]:.3f}",
               help=f"cross-entropy of the chance it gives {names[label]}: {plain_probability(float(probs[0][label]))}")
    col.caption(f"top guess: {top[1]} ({plain_probability(float(top[2]))})")
cols[3].metric("total loss", f"{total:.3f}")
cols[3].caption(f"= {parts['main']:.3f} + 0.3 · {parts['aux1']:.3f} + 0.3 · {parts['aux2']:.3f}")
st.caption(f"Random weights: every head guesses about 1 in 1000, so each loss is near ln(1000) = {np.log(1000):.2f} "
           "and the total near 1.6 x that. Training would push all three down together.")
links.publish(LINKS)
