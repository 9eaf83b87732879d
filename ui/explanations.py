"""The explanation wall of Feature maps -> Where does it look? (issue 24): five explanations of one
prediction side by side, and "Which one can we trust?" (deletion curves and the sanity check).

The maps, deletion curves and the sanity check are long work computed once for the class
(:mod:`explorer.explain.shared` through ``serving.submit``) and followed with :func:`ui.runs.watch`.
Every map is shown over what the model sees (the one geometry), with a caption written from the
settings that ran (:func:`explorer.explain.methods.caption`).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.explain import TITLES, shared
from explorer.explain.deletion import SCORED
from explorer.explain.gradients import BASELINE_WORDS
from explorer.explain.methods import CLASSROOM_OPTIONS, METHODS, caption
from explorer.models import classifier
from explorer.plain_numbers import plain_probability
from ui import present
from ui.feature_sections import CAM_CLASS, class_options, heat_overlay
from ui.runs import watch

VIEW = "fm_explain_view"
VIEWS = ("Grad-CAM", "Every method", "Which one can we trust?")
BASELINE = "fm_ig_baseline"
BASELINES = BASELINE_WORDS  # value -> words: the picker and its link
SANITY = "fm_sanity_done"  # session: (model, photo, class, settings) -> SanityCheck
COLORS = {"gradcam": "#d62728", "gradcam++": "#ff7f0e", "integrated_gradients": "#1f77b4",
          "smoothgrad": "#2ca02c", "occlusion": "#9467bd"}
SHOWN_STEPS = 3  # sanity check: pictures after this many of its steps (first, middle, last)


def view_choice() -> str:
    """Which part of the section is shown; the first is the single Grad-CAM of issue 10."""
    return st.segmented_control("Show", VIEWS, key=VIEW, help="Grad-CAM alone; the five explanations side "
                                "by side; or the tests that say which explanation deserves trust.") or VIEWS[0]


def options() -> dict:
    """The settings the page runs, with the integrated-gradients baseline the user chose."""
    opts = {m: dict(o) for m, o in CLASSROOM_OPTIONS.items()}
    opts["integrated_gradients"]["baseline"] = st.session_state.get(BASELINE, "blurred")
    return opts


def class_picker(model, probs) -> int:
    """The one class picker of the section (the top 5 of this photo; linked as ``class``)."""
    opts = class_options(model, probs)
    names = classifier.class_names_of(model)
    if st.session_state.get(CAM_CLASS) not in opts:
        st.session_state[CAM_CLASS] = opts[0]
    return st.radio("Explain which class?", opts, key=CAM_CLASS, horizontal=True,
                    format_func=lambda i: f"{names[i]} ({plain_probability(float(probs[i]))})",
                    help="The network's five most likely classes for this photo, most likely first.")


def _overlay(seen: np.ndarray, view_map: np.ndarray) -> np.ndarray:
    return heat_overlay(seen.astype(np.float32), np.clip(np.asarray(view_map, np.float32), 0.0, 1.0))


def run_wall(model, photo_raw, target: int, opts: dict):
    """The shared run of the five maps and their deletion curves, watched here with its progress;
    its result (:class:`explorer.explain.shared.Wall`) or None after an error (shown)."""
    place, progress = st.empty(), st.empty()

    def draw(snap):
        total = snap.metrics.get("total", 1)
        text = (f"Explaining with {TITLES[snap.metrics['method']]}" if "method" in snap.metrics
                else "Drawing the deletion curves")
        progress.progress(min(1.0, snap.step / total), text=f"{text}: step {snap.step} of {total}")

    try:
        [done] = watch(shared.wall(model, photo_raw, target, opts), draw, key="fm_wall_watch", place=place)
    except ValueError as exc:
        progress.empty()
        st.error(str(exc))
        return None
    progress.empty()
    if done.error:
        st.error(done.error)
    return done.result


def wall_section(model, photo_raw: np.ndarray, seen: np.ndarray, target: int) -> None:
    """The five explanations of one class side by side on what the model saw, each with its caption."""
    names = classifier.class_names_of(model)
    result = run_wall(model, photo_raw, target, options())
    if result is None:
        return
    columns = 3 if present.is_on() else len(METHODS)  # presenting: bigger pictures, two rows
    cols = st.columns(columns)
    for i, m in enumerate(METHODS):
        with cols[i % columns]:
            st.image(_overlay(seen, result.maps[m]), width="stretch")
            st.markdown(f"**{TITLES[m]}**")
            st.caption(caption(m, result.options[m], names[target], result.facts[m]))


def deletion_figure(result, class_name: str) -> go.Figure:
    """p(class) as the photo is greyed in each map's order, and in random orders (dashed)."""
    fig = go.Figure()
    first = next(iter(result.curves.values()))
    x = [100 * f for f in first.fractions]
    fig.add_vrect(x0=100 * SCORED[0], x1=100 * SCORED[1], fillcolor="#eeeeee", line_width=0, layer="below")
    fig.add_scatter(x=x, y=first.by_random, name="random order", mode="lines",
                    line=dict(color="#555555", dash="dash", width=3))
    for m, curve in result.curves.items():
        fig.add_scatter(x=x, y=curve.by_map, name=TITLES[m], mode="lines", line=dict(color=COLORS.get(m), width=2))
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="top", y=-0.32))
    fig.update_xaxes(title_text="% of the photo greyed (most important first)", range=[0, 100])
    fig.update_yaxes(title_text=f"p({class_name})", range=[0, 1], tickformat=".0%")
    return fig


def sanity_figure(check) -> go.Figure:
    """Rank correlation of each map with the trained network's, as blocks are randomised from the top."""
    fig = go.Figure()
    x = [len(step.blocks) for step in check.steps]
    for m in check.original:
        fig.add_scatter(x=[0] + x, y=[1.0] + [s.correlation[m] for s in check.steps], name=TITLES[m],
                        mode="lines+markers", line=dict(color=COLORS.get(m), width=2))
    fig.add_hline(y=0, line_color="#999999", line_dash="dot")
    lowest = min([0.0] + [s.correlation[m] for s in check.steps for m in check.original])
    # the legend above the plot: below it, in a short chart, it ran into the axis title
    fig.update_layout(margin=dict(l=10, r=10, t=70, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"))
    fig.update_xaxes(title_text="blocks randomised, from the top", tickvals=[0] + x)
    fig.update_yaxes(title_text="same order as before?", range=[min(-0.3, lowest - 0.1), 1.05])
    return fig


def _faster(result) -> tuple[list[str], list[str]]:
    good = [TITLES[m] for m, c in result.curves.items() if c.faithful]
    bad = [TITLES[m] for m, c in result.curves.items() if not c.faithful]
    return good, bad


def trust_section(model, photo_raw: np.ndarray, seen: np.ndarray, target: int) -> None:
    """Deletion curves (this photo) beside the sanity check (randomise the network, watch the maps)."""
    names = classifier.class_names_of(model)
    opts = options()
    left, right = st.columns(2)
    with left:
        st.markdown("**Test 1: delete what the map calls important**")
        result = run_wall(model, photo_raw, target, opts)
        if result is not None:
            present.plotly_chart(deletion_figure(result, names[target]), height=330, key="fm_deletion",
                                 width="stretch")
            good, bad = _faster(result)
            st.caption("We grey the photo square by square, the squares each map calls important first, and "
                       f"watch p({names[target]}) fall. If it falls faster than when greying squares in a random "
                       "order (dashed), the map points at what the network really uses. On this photo (mean over "
                       f"10% to 50% greyed, shaded): faster than random: {', '.join(good) or 'none'}; "
                       f"not faster: {', '.join(bad) or 'none'}.")
            if next(iter(result.curves.values())).fragile:  # every curve shares the one random-order curve
                st.warning(f"Here even a random order takes p({names[target]}) from "
                           f"{plain_probability(float(result.probabilities[target]))} to almost nothing at once: "
                           "the network is too unsure of this class for this test to tell the maps apart. "
                           "Try a photo it is surer of.", icon=":material/warning:")
    with right:
        st.markdown("**Test 2: break the network, does the map change?**")
        sanity_part(model, photo_raw, seen, target, opts, names[target])


def sanity_part(model, photo_raw: np.ndarray, seen: np.ndarray, target: int, opts: dict, class_name: str) -> None:
    done = st.session_state.setdefault(SANITY, {})
    key = (id(model), hash(photo_raw.tobytes()), int(target), repr(sorted(opts.items())))
    press = st.button("Randomise the network, block by block", key="fm_sanity_button", type="primary",
                      icon=":material/shuffle:",
                      help="A copy of the network gets fresh random weights from the top (the class layer) "
                           "down, one more block each step; every map is made again.")
    place, progress = st.empty(), st.empty()
    if press:
        def draw(snap):
            total = snap.metrics.get("total", 1)
            progress.progress(min(1.0, snap.step / total), text=f"Randomising and explaining: map {snap.step} of {total}")

        try:
            [out] = watch(shared.sanity(model, photo_raw, target, opts), draw, key="fm_sanity_watch", place=place)
        except ValueError as exc:
            out = None
            st.error(str(exc))
        progress.empty()
        if out is not None and out.error:
            st.error(out.error)
        if out is not None and out.result is not None:
            done[key] = out.result
    check = done.get(key)
    if check is None:
        st.caption("A map that explains the network must change when the network forgets what it learned. "
                   "Press the button: about a minute on a laptop.")
        return
    present.plotly_chart(sanity_figure(check), height=320, key="fm_sanity_chart", width="stretch")
    picks = sorted({0, len(check.steps) // 2, len(check.steps) - 1})[:SHOWN_STEPS]
    counts = [str(len(check.steps[i].blocks)) for i in picks]
    listed = counts[0] if len(counts) == 1 else f"{', '.join(counts[:-1])} and {counts[-1]}"
    st.caption(f"Left to right: the trained network, then {listed} of its "
               f"{len(check.steps[-1].blocks)} blocks random.")
    for m in check.original:
        pics = [check.original[m]] + [check.steps[i].maps[m] for i in picks]
        st.image([_overlay(seen, p) for p in pics], width=present.px(96),
                 caption=[TITLES[m]] + [""] * len(picks))
    last = check.steps[-1]
    kept = [TITLES[m] for m, r in last.correlation.items() if r >= 0.5]
    verdict = (f"the maps that still rank the squares much as before ({', '.join(kept)}) show the photo's edges "
               "and contrasts, not what the network learned" if kept else
               "no map still ranks the squares as before: each depended on what the network learned")
    st.caption(f"1 on the chart: the map ranks the photo's squares as before; 0: unrelated. With all "
               f"{len(last.blocks)} blocks random (p({class_name}) = {plain_probability(last.probability)}), "
               f"{verdict}.")


def where_it_looks(model, model_title: str, photo_raw: np.ndarray, seen: np.ndarray, probs, single) -> None:
    """The section: Grad-CAM alone (``single``: issue 10's view), every method, or the trust tests."""
    if probs is None:
        st.info("This model has no classifier on top, so there is no class to explain.")
        return
    shown = view_choice()
    if shown == VIEWS[0]:
        single(model, model_title, photo_raw, seen, probs)
        return
    names = classifier.class_names_of(model)
    presenting = present.is_on()
    row = [st.container(), st.container()] if presenting else st.columns([3, 1.2])
    with row[0]:
        target = class_picker(model, probs)
    # Presenting, the folded settings and the words about the pictures go under the pictures: above them
    # (under the page's title, layer slider, tabs and the class picker) the wall began at the bottom of a
    # 1440x900 screen. The teacher says what the pictures show; the projector shows them. The widgets are
    # still made before the long work below, in containers placed where they show.
    pictures = st.container()
    below = st.container() if presenting else None
    with (below if presenting else row[1]), present.details("Settings"):
        st.selectbox("Integrated gradients starts from", list(BASELINES), key=BASELINE,
                     format_func=lambda b: BASELINES[b],
                     help="The picture the photo is faded in from: black, a blur of the photo, or noise.")
    if shown == VIEWS[1]:
        with (below if presenting else pictures), present.details("What these pictures show"):
            st.caption(f"Five ways to ask where {model_title} finds {names[target]} in this photo, drawn on what "
                       "it sees. Bright: what each method calls important. They disagree: *Which one can we "
                       "trust?* tests them.")
        with pictures:
            wall_section(model, photo_raw, seen, target)
    else:
        with pictures:
            trust_section(model, photo_raw, seen, target)
