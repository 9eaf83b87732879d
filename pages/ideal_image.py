"""Ideal class image: start from noise and let gradient ascent paint what the network thinks a class is."""

import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import explorer
from explorer import classifier, optvis, zoo
from ui.models import model_select, second_opinion, title_of, top5
from ui.runs import follow_runs, stop_button
from ui.shell import require_shell

require_shell()

MAX_STEPS = 1000  # per run: the server is shared by a class
UI_EVERY_S = 0.4  # redraw the live picture at most this often (slower when many sessions watch)
CHART_EVERY_S = 2.0  # and the live curves at most this often (a plotly figure costs the server far more)
LEARNING_RATES = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 127.5, 200.0,
                  500.0, 1000.0]
TV_WEIGHTS = [0.0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05]
L2_WEIGHTS = [0.0, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0]
NOT_PAINTED = ("googlenet",)  # random weights only: its "ideal" image would teach nothing
QUICK = {"Siamese cat": explorer.SIAMESE_CAT, "tabby": explorer.TABBY, "zebra": explorer.ZEBRA}
SLIDERS = ("steps", "learning_rate", "tv_weight", "l2_weight", "jitter", "scale", "rotation", "param", "optimizer")

st.title("Ideal class image")
st.markdown(
    "What does the network think a **cat** is? Start from noise and change the pixels, step by step, in the "
    "direction that raises the network's probability for the class (gradient ascent on the image). Without "
    "help the result is noise the network loves; a *total-variation* penalty, random jitter/scale/rotation "
    "and a Fourier parameterisation turn it into something you can recognise."
)


def _model_picker():
    """(label, model, class names) for the chosen zoo or user model; model is None if unusable."""
    choice, model = model_select("Model", "ideal_model_choice", default=("vgg16", "mobilenet_v2"),
                                 variants=zoo.VARIANTS, exclude=NOT_PAINTED, user=True)
    return title_of(choice), model, classifier.class_names_of(model) if model is not None else []


def _apply_preset():
    preset = st.session_state.get("ideal_preset")
    if preset is None:
        return
    values = optvis.options_for(preset)
    if preset == "as in the lesson":
        values["learning_rate"] = st.session_state.get("ideal_lesson_lr", 1.0)
    for key in SLIDERS:
        st.session_state[f"ideal_{key}"] = values[key]


def _set_class():
    pick = st.session_state.get("ideal_quick")
    if pick in QUICK:
        st.session_state["ideal_class"] = QUICK[pick]


def _curves(history, losses, title="") -> go.Figure:
    steps = list(range(1, len(history) + 1))
    fig = go.Figure()
    fig.add_scatter(x=steps, y=history, name="target probability", line=dict(color="#d62728"))
    fig.add_scatter(x=steps, y=losses, name="loss", yaxis="y2", line=dict(color="#1f77b4", dash="dot"))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), title=title, xaxis_title="step",
                      yaxis=dict(title="probability", range=[0, 1]),
                      yaxis2=dict(title="loss", overlaying="y", side="right", showgrid=False),
                      legend=dict(orientation="h", y=-0.3))
    return fig


def _watch(model, target, steps, seed, options, slots, label):
    """Ask the shared scheduler for a run (joined or replayed if anyone asked the same already);
    returns (subscription, draw, placeholder) for ``follow_runs``, which animates it in ``slots``."""
    subscription = explorer.paint(model, target, steps=steps, seed=seed, **options)
    charted = {"version": None, "at": 0.0}

    def draw(snap):
        p = snap.metrics.get("probability", float("nan"))
        slots["image"].image(snap.image, caption=f"{label}: step {snap.step}/{steps}", width="stretch")
        # Kept so a run stopped half-way (Stop, or a changed setting) still shows where it got to.
        st.session_state["ideal_stopped"] = dict(label=label, step=snap.step, steps=steps, image=snap.image,
                                                 probability=p)
        slots["progress"].progress(snap.step / steps, text=f"{label}: step {snap.step}/{steps}, p = {p:.3f}")
        now = time.monotonic()  # the same chart twice would be a duplicate element: redraw only when it moved
        if snap.version != charted["version"] and now - charted["at"] >= CHART_EVERY_S:
            charted["version"], charted["at"] = snap.version, now
            slots["chart"].plotly_chart(_curves(snap.history, snap.losses, label), width="stretch")

    return subscription, draw, slots["progress"]


def _outcome(run):
    """(result, error message) of a finished shared run; a run stopped by the time budget keeps its result."""
    if isinstance(run.error, explorer.Diverged):
        return run.error.result, str(run.error)
    if run.error is not None:
        return None, str(run.error)
    return run.result, None


def _second_opinion(image, done) -> None:
    """A second network's top-5 for the painted image, and its probability for the class (matched by name)."""
    label2, model2, check = second_opinion("Second model", "ideal_second_choice", "mobilenet_0.75", image, image,
                                           done["class_label"], exclude=NOT_PAINTED)
    if check is None:
        return
    probs = classifier.predict(model2, image)
    top5(model2, probs, target=check.target)
    if not check.known:
        st.caption(f"{label2} has no class '{done['class_label']}', so it cannot judge this image.")
        return
    imagenet = classifier.num_classes(model2) == 1000 and not classifier.has_own_class_names(model2)
    cats = list(explorer.CAT_CLASSES) if imagenet else []
    any_cat = f"; any cat: **{float(np.sum(probs[cats])):.3f}**" if cats and check.target in cats else ""
    st.markdown(f"p({done['class_label']}) = **{check.probability_after:.3f}** on {label2}" + any_cat)


def _show_result(result, label, class_label):
    st.image(result.image, caption=f"{label}: p({class_label}) = {result.probability:.3f} after "
                                   f"{result.steps} steps ({result.seconds:.0f} s)", width="stretch")


def _class_picker(names):
    """Quick picks and the searchable class list; None when the model has no class names."""
    st.pills("Quick pick", list(QUICK), key="ideal_quick", on_change=_set_class)
    if not names:
        st.error("This model has no class names; train or load it again on the Transfer learning page.")
        return None
    if st.session_state.get("ideal_class", explorer.SIAMESE_CAT) >= len(names):
        st.session_state["ideal_class"] = 0
    st.session_state.setdefault("ideal_class", explorer.SIAMESE_CAT)
    return st.selectbox("Class (type to search)", range(len(names)), key="ideal_class",
                        format_func=lambda i: f"{i}: {names[i]}")


def _settings(model):
    """Preset and sliders: returns (steps, seed, compare, options for explorer.ideal_image)."""
    if model is not None:
        st.session_state["ideal_lesson_lr"] = optvis.lesson_learning_rate(model)
    if "ideal_steps" not in st.session_state:
        st.session_state["ideal_preset"] = "best looking"
        _apply_preset()
    st.pills("Preset", list(optvis.PRESETS)[:2], key="ideal_preset", on_change=_apply_preset,
             help="'as in the lesson': plain gradient steps on the pixels, loss 10*CE + 0.005*TV, "
                  "1000 steps. 'best looking': Fourier parameterisation, Adam, random jitter, "
                  "scale and rotation.")
    with st.expander("Settings", expanded=True):
        steps = st.slider("Steps", 10, MAX_STEPS, key="ideal_steps", step=10)
        param = st.radio("Parameterisation", ["pixels", "fourier"], key="ideal_param", horizontal=True,
                         format_func={"pixels": "plain pixels", "fourier": "Fourier, decorrelated colour"}.get)
        optimizer = st.radio("Optimiser", ["sgd", "adam"], key="ideal_optimizer", horizontal=True,
                             format_func={"sgd": "plain gradient steps", "adam": "Adam"}.get)
        learning_rate = st.select_slider("Learning rate", LEARNING_RATES, key="ideal_learning_rate",
                                         help="The lesson's step of 1 on VGG-16 is 127.5 on MobileNet/Inception, "
                                              "whose inputs are pixels / 127.5.")
        tv_weight = st.select_slider("Total-variation weight", TV_WEIGHTS, key="ideal_tv_weight")
        l2_weight = st.select_slider("L2 weight", L2_WEIGHTS, key="ideal_l2_weight")
        jitter = st.slider("Jitter (pixels)", 0, 32, key="ideal_jitter")
        scale = st.slider("Scale robustness (+-)", 0.0, 0.6, key="ideal_scale", step=0.05)
        rotation = st.slider("Rotation robustness (+- degrees)", 0, 45, key="ideal_rotation")
        seed = st.number_input("Seed", 0, 10_000, 0, key="ideal_seed")
        compare = st.toggle("Also run plain noise (no regularisers) for comparison", value=True,
                            key="ideal_compare")
        early_stop = st.toggle("Stop early once the network is sure and the picture has settled", value=False,
                               key="ideal_early_stop",
                               help="Ends the run when the class has stayed above 90 % for 10 steps and the "
                                    "picture has stopped changing: same image, less waiting.")
    options = dict(param=param, optimizer=optimizer, learning_rate=learning_rate, tv_weight=tv_weight,
                   l2_weight=l2_weight, jitter=jitter, scale=scale, rotation=int(rotation),
                   ce_weight=10.0 if st.session_state.get("ideal_preset") == "as in the lesson" else 1.0,
                   frame_every=max(1, steps // 20), early_stop=early_stop)
    return steps, int(seed), compare, options


def _paint(model, label, names, target, steps, seed, compare, options):
    """The regularised run and (optionally) the plain-noise run side by side, through the shared scheduler
    (joined or replayed when someone asked for the same already); the outcome is kept in the session."""
    st.session_state.pop("ideal_run", None)
    columns = st.columns(2 if compare else 1)
    slots = [{"image": c.empty(), "progress": c.empty(), "chart": c.empty()} for c in columns]
    stop_button("ideal_stop")
    watched, error = [], None
    try:
        watched.append(_watch(model, target, steps, seed, options, slots[0], "regularised"))
        if compare:  # both at once: the comparison runs alongside (and is shared by the whole class)
            plain_options = optvis.options_for("plain noise", learning_rate=st.session_state["ideal_lesson_lr"],
                                               frame_every=max(1, steps // 20))
            plain_options.pop("steps")
            watched.append(_watch(model, target, steps, seed, plain_options, slots[1], "plain noise"))
    except ValueError as exc:
        for subscription, *_ in watched:
            subscription.close()
        watched, error = [], str(exc)
    runs = follow_runs(watched, UI_EVERY_S)
    main, plain, plain_error = None, None, None
    if runs:
        main, error = _outcome(runs[0])
    if len(runs) > 1 and main is not None and error is None:
        plain, plain_error = _outcome(runs[1])
    st.session_state.pop("ideal_stopped", None)
    st.session_state["ideal_run"] = dict(main=main, plain=plain, error=error or plain_error, label=label,
                                         class_label=names[target], target=target)
    st.rerun()


def _show_waiting():
    stopped = st.session_state.get("ideal_stopped")
    if stopped is not None:
        st.warning(f"The last run was stopped at step {stopped['step']} of {stopped['steps']} ({stopped['label']}, "
                   f"p = {stopped['probability']:.3f}). Press **Paint the ideal image** to run again.",
                   icon=":material/stop_circle:")
        st.image(stopped["image"], caption=f"{stopped['label']}: step {stopped['step']}", width=320)
    else:
        st.info("Pick a model and a class, then press **Paint the ideal image**. A run of 200 steps takes about "
                "a minute on a laptop; the picture and the curves update as it goes.", icon=":material/brush:")


def _show_pair(main, plain, class_label):
    """The regularised image beside the plain-noise one, each with its curves."""
    columns = st.columns(2 if plain is not None else 1)
    with columns[0]:
        st.subheader("Regularised")
        _show_result(main, "regularised", class_label)
        st.plotly_chart(_curves(main.history, main.losses), width="stretch", key="ideal_curve_main")
    if plain is None:
        return
    with columns[1]:
        st.subheader("Plain noise")
        _show_result(plain, "no regularisers", class_label)
        st.plotly_chart(_curves(plain.history, plain.losses), width="stretch", key="ideal_curve_plain")
    st.caption("The curves follow the copy the network saw at each step (randomly shifted, zoomed and "
               "rotated when robustness is on, hence the noise); the numbers under the images are for "
               "the final images themselves.")
    st.caption("Both images convince the network. Only the regularised one shows shapes a person can "
               "see: without the total-variation penalty and the random transformations, gradient "
               "ascent finds high-frequency patterns the network reacts to but we do not.")


def _offer_downloads(main, class_label):
    name = class_label.replace(" ", "_")
    save = st.columns(2)
    save[0].download_button("Save the image (PNG)", optvis.png_bytes(main.image), f"ideal_{name}.png",
                            "image/png", icon=":material/download:")
    save[1].download_button("Save the run (animated GIF)", optvis.gif_bytes(main.frames or [main.image], size=224),
                            f"ideal_{name}.gif", "image/gif", icon=":material/animation:")


def _show_done(done):
    if done["error"]:
        st.error(done["error"], icon=":material/warning:")
    main = done["main"]
    if main is None:
        return
    _show_pair(main, done["plain"], done["class_label"])
    _offer_downloads(main, done["class_label"])
    st.subheader("Does another network also see it?")
    _second_opinion(main.image, done)


controls, output = st.columns([1.3, 2], gap="medium")
with controls:
    label, model, names = _model_picker()
    target = _class_picker(names)
    steps, seed, compare, options = _settings(model)
    run = st.button("Paint the ideal image", type="primary", disabled=model is None or target is None,
                    icon=":material/brush:")

with output:
    if run:
        _paint(model, label, names, target, steps, seed, compare, options)
    done = st.session_state.get("ideal_run")
    if done is None:
        _show_waiting()
    else:
        _show_done(done)
