"""Ideal class image: start from noise and let gradient ascent paint what the network thinks a class is."""


import numpy as np
import plotly.graph_objects as go
import streamlit as st

import explorer
from explorer.models import classifier, zoo
from explorer.models.ensemble import ensemble_of, members_of
from explorer import optvis, warm
from explorer.optvis import recipe
from explorer.plain_numbers import plain_probability
from ui import links, present, shared_frames
from ui.models import cached_model, choices, model_select, second_opinion, title_of, top5
from explorer.attacks import verdicts
from explorer.optvis.batching import paint_several
from ui.runs import watch
from ui.shell import require_shell

require_shell()

MAX_STEPS = 1000  # per run: the server is shared by a class
UI_EVERY_S = 0.4  # redraw the live picture at most this often (slower when many sessions watch)
CHART_EVERY_S = 2.0  # and the live curves at most this often (a plotly figure costs the server far more)
CLEAN_EVERY_S = 1.0  # and the shown picture's own probability (one forward pass) at most this often
LEARNING_RATES = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 127.5, 200.0,
                  500.0, 1000.0]
TV_WEIGHTS = [0.0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05]
L2_WEIGHTS = [0.0, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0]
DIVERSITY_WEIGHTS = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
MAX_IMAGES = 4  # several at once: each image costs a full run
NOT_PAINTED = ("googlenet",)  # random weights only: its "ideal" image would teach nothing
# The lesson's ideal image is a cat: tabby ("tabby, tabby cat", class 281), ImageNet's plain house cat, first.
QUICK = {"tabby": explorer.TABBY, "Siamese cat": explorer.SIAMESE_CAT, "zebra": explorer.ZEBRA}
PRESETS = list(optvis.PRESETS)[:2]
LESSON = "as in the lesson"  # its recipe paints on one network, as the lesson did (VGG-16)
SLIDERS = ("steps", "learning_rate", "tv_weight", "l2_weight", "jitter", "scale", "rotation", "param", "optimizer")
PICTURE = 300  # live picture width (px, larger when presenting); two side by side fit the output column


def _lesson() -> dict:
    """The lesson's recipe for the open model (its step and TV weight in the network's input units)."""
    return st.session_state.get("ideal_lesson") or optvis.options_for("as in the lesson")


def _preset_values(preset) -> dict:
    values = optvis.options_for(preset)
    if preset == LESSON:
        values.update(_lesson())  # the lesson's step of 1 and TV on VGG-16's input, on this model's input
    return values


def _learning_rates() -> list[float]:
    """The slider's learning rates, with the lesson's (16256.25 on MobileNet) among them."""
    return sorted(set(LEARNING_RATES) | {float(_lesson()["learning_rate"])})


def _tv_weights() -> list[float]:
    return sorted(set(TV_WEIGHTS) | {float(_lesson()["tv_weight"])})


def _apply_preset(picked: bool = False):
    preset = st.session_state.get("ideal_preset")
    if preset is None:
        return
    if picked and preset == LESSON:
        st.session_state["ideal_every"] = False  # the lesson painted on one network
    values = _preset_values(preset)
    for key in SLIDERS:
        st.session_state[f"ideal_{key}"] = values[key]


def _set_class():
    pick = st.session_state.get("ideal_quick")
    if pick in QUICK:
        st.session_state["ideal_class"] = QUICK[pick]


def model_params() -> list[links.Param]:
    """Lesson links of the controls that exist before a model is open."""
    return [links.choice("ideal_model_choice", "model", choices(zoo.VARIANTS, exclude=NOT_PAINTED, user=True)),
            links.choice("ideal_quick", "quick", list(QUICK)), links.flag("ideal_every", "every")]


def setting_params(names) -> list[links.Param]:
    """Lesson links of the class, the preset and every setting."""
    params = [links.number("ideal_class", "class", 0, max(len(names) - 1, 0), cast=int)] if names else []
    return params + [
        links.choice("ideal_preset", "preset", PRESETS),
        links.number("ideal_steps", "steps", 10, MAX_STEPS, cast=int),
        links.choice("ideal_param", "param", ["pixels", "fourier"]),
        links.choice("ideal_optimizer", "optimizer", ["sgd", "adam"]),
        links.number("ideal_learning_rate", "lr", LEARNING_RATES[0], max(_learning_rates()),
                     options=_learning_rates()),
        links.number("ideal_tv_weight", "tv", 0.0, TV_WEIGHTS[-1], options=_tv_weights()),
        links.number("ideal_l2_weight", "l2", 0.0, L2_WEIGHTS[-1], options=L2_WEIGHTS),
        links.number("ideal_jitter", "jitter", 0, 32, cast=int),
        links.number("ideal_scale", "scale", 0.0, 0.6, options=[round(0.05 * i, 2) for i in range(13)]),
        links.number("ideal_rotation", "rotation", 0, 45, cast=int),
        links.number("ideal_seed", "seed", 0, 10_000, cast=int),
        links.flag("ideal_compare", "compare"),
        links.flag("ideal_early_stop", "early_stop"),
        links.flag("ideal_several", "several"),
        links.number("ideal_images", "images", 2, MAX_IMAGES, cast=int),
        links.number("ideal_diversity", "diversity", 0.0, DIVERSITY_WEIGHTS[-1], options=DIVERSITY_WEIGHTS)]


def _model_picker():
    """(label, model, class names) for the chosen zoo or user model, or for every network here at once
    (:func:`explorer.ensemble_classifier`); model is None if unusable."""
    choice, model = model_select("Model", "ideal_model_choice", default=("vgg16", "mobilenet_v2"),
                                 variants=zoo.VARIANTS, exclude=NOT_PAINTED, user=True)
    label = title_of(choice)
    here = zoo.pretrained_here()  # the same networks `python -m explorer.warm` paints for
    # On by default where several networks have weights, unless a link names one model to paint on; picking
    # another model turns it off (the pick means "paint on this one").
    links.default("ideal_every", warm.paint_together(here) and "model" not in st.query_params
                  and st.query_params.get("preset") != LESSON)
    if st.session_state.get("ideal_last_choice", choice) != choice:
        st.session_state["ideal_every"] = False
    st.session_state["ideal_last_choice"] = choice
    # short: presenting, a longer label was cut off with an ellipsis
    st.toggle(f"Paint for all {len(here)} networks" if len(here) > 1 else "Paint for several networks",
              key="ideal_every", disabled=len(here) < 2,
              help="The picture must convince every network with ImageNet weights on this computer at once (each "
                   "sees it at its own size): what they all agree on, not one network's quirks, so other networks "
                   "recognise it too. Each step costs the sum of the networks' steps.")
    if st.session_state["ideal_every"] and len(here) > 1:
        model = ensemble_of(here, load=lambda v: cached_model(v.model, **v.kwargs()))
        label = "every network here"
        st.caption("Painted by: " + ", ".join(members_of(model)) + ".")
    elif len(here) < 2:
        st.caption("Only one network has ImageNet weights here, so it paints alone (more weights: "
                   "`python -m explorer.weights`).")
    return label, model, classifier.class_names_of(model) if model is not None else []


def _curves(history, losses, title="") -> go.Figure:
    """The probability of the copy the network judged at each step, and the loss (normal mode).

    Two of these share a column side by side (each a quarter of the page when presenting). Presenting,
    a chart keeps the probability alone, on one axis, with a few ticks: two axes of projector-sized
    numbers left a plot a few pixels wide with its step labels on top of each other."""
    steps = list(range(1, len(history) + 1))
    fig = go.Figure()
    fig.add_scatter(x=steps, y=history, name="p of the copy seen", line=dict(color="#d62728"))
    fig.update_layout(margin=dict(l=10, r=10, t=70 if title else 40, b=10),
                      title=dict(text=title, y=0.98, yanchor="top") if title else None,
                      xaxis=dict(title="step", nticks=4, tickangle=0),
                      yaxis=dict(title="probability", range=[0, 1], nticks=3),
                      legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom", xanchor="left"))
    if present.is_on():
        fig.update_layout(showlegend=False, yaxis_title="p of the copy seen")
    else:
        fig.add_scatter(x=steps, y=losses, name="loss", yaxis="y2", line=dict(color="#1f77b4", dash="dot"))
        fig.update_layout(yaxis2=dict(title="loss", overlaying="y", side="right", showgrid=False, nticks=3,
                                      tickmode="auto", rangemode="tozero"))  # round ticks, not the left grid's
    return present.style_figure(fig, height=240)


def _robust(options) -> bool:
    return bool(options.get("jitter") or options.get("scale") or options.get("rotation"))


def _progress_text(label, step, steps, class_label, seen, clean, robust) -> str:
    """Live progress: the shown picture's own probability (the number the result caption will give)
    and, when the network judges randomly transformed copies, that of the copy it saw at this step.
    Presenting, the step and the picture's probability only: under the Paint button, in a quarter of the
    page at projector size, the full line took seven lines and ran past the bottom of a 1440x900 screen
    (the picture's caption names the run)."""
    if present.is_on():
        return f"step {step}/{steps} · p({class_label}) = {plain_probability(seen if clean is None else clean)}"
    text = f"{label}: step {step}/{steps}"
    if clean is not None:
        text += f" · p({class_label}) of this picture: {plain_probability(clean)}"
    if robust:
        text += f" (of the jittered copy the network saw: {plain_probability(seen)})"
    elif clean is None:
        text += f" · p({class_label}): {plain_probability(seen)}"
    return text


def _follow(model, target, class_label, steps, seed, options, slots, label, width):
    """Ask the shared scheduler for a run (joined or replayed if anyone asked the same already);
    returns (subscription, draw) for ``watch``, which animates it in ``slots``."""
    subscription = explorer.paint(model, target, steps=steps, seed=seed, **options)
    run = subscription.run

    def clean_probability(image) -> float:
        return float(explorer.predict(model, image)[target])

    def draw(snap):
        # Every watcher of this run draws the same frame: its JPEG, its own probability and the curve
        # figure are made once for all of them (ui.shared_frames), not once per student.
        seen = snap.metrics.get("probability")
        clean = (None if snap.image is None else
                 shared_frames.once(run, "clean_p", snap.version, lambda: clean_probability(snap.image),
                                    max_age=CLEAN_EVERY_S))
        slots["image"].image(shared_frames.live_jpeg(run, snap), caption=f"{label}: step {snap.step}/{steps}",
                             width=width)
        # Kept so a run stopped half-way (Stop, or a changed setting) still shows where it got to: the
        # painting's, never the plain-noise comparison's (which drew last and replaced it, issue 23).
        if label != "plain noise":
            st.session_state["ideal_stopped"] = dict(label=label, step=snap.step, steps=steps, image=snap.image,
                                                     probability=clean)
        slots["progress"].progress(snap.step / steps, text=_progress_text(label, snap.step, steps, class_label,
                                                                          seen, clean, _robust(options)))
        # The key names the step (watch draws a step once), so no two charts of a run can collide.
        figure = shared_frames.once(run, f"curves:{present.is_on()}", snap.step,
                                    lambda: _curves(snap.history, snap.losses, label), max_age=CHART_EVERY_S)
        slots["chart"].plotly_chart(figure, width="stretch", key=f"ideal_live_{label}_{snap.step}")

    return subscription, draw


def _second_opinion(image, done) -> None:
    """A second network's top-5 for the painted image, and its probability for the class (matched by name)."""
    label2, model2, check = second_opinion("Second model", "ideal_second_choice", "mobilenet_0.75", image, image,
                                           done["class_label"], exclude=NOT_PAINTED)
    if check is None:
        return
    probs = verdicts.shared_predict(model2, image)  # the check above made it: no second pass
    top5(model2, probs, target=check.target)
    if not check.known:
        st.caption(f"{label2} has no class '{done['class_label']}', so it cannot judge this image.")
        return
    painters = done.get("painters") or [done["label"]]
    if label2 in painters:
        st.caption(f"Painted by {', '.join(painters)}. {label2} helped paint it, so its verdict is not an outside "
                   "opinion: pick a network that did not paint it.")
    else:
        st.caption(f"Painted by {', '.join(painters)}; judged by {label2}, which did not paint it.")
    imagenet = classifier.num_classes(model2) == 1000 and not classifier.has_own_class_names(model2)
    cats = list(explorer.CAT_CLASSES) if imagenet else []
    any_cat = (f"; any cat: **{plain_probability(float(np.sum(probs[cats])))}**"
               if cats and check.target in cats else "")
    st.markdown(f"p({done['class_label']}) = **{plain_probability(check.probability_after)}** on {label2}"
                + any_cat)


def _result_caption(result, label, class_label) -> str:
    return (f"{label}: p({class_label}) = {plain_probability(result.probability)} for this picture, after "
            f"{result.steps} steps ({result.seconds:.0f} s)")


def _class_picker(names):
    """Quick picks and the searchable class list; None when the model has no class names."""
    st.pills("Quick pick", list(QUICK), key="ideal_quick", on_change=_set_class)
    if not names:
        st.error("This model has no class names; train or load it again on the Transfer learning page.")
        return None
    if st.session_state.get("ideal_class", explorer.TABBY) >= len(names):
        st.session_state["ideal_class"] = 0
    links.default("ideal_class", explorer.TABBY)
    return st.selectbox("Class (type to search)", range(len(names)), key="ideal_class",
                        format_func=lambda i: f"{i}: {names[i]}")


def _defaults(model):
    """Every setting's starting value, once per session (the preset in a link, else 'best looking')."""
    if model is not None:
        st.session_state["ideal_lesson"] = optvis.lesson_options(model)
    if "ideal_steps" not in st.session_state:
        preset = st.query_params.get("preset")
        st.session_state["ideal_preset"] = preset if preset in PRESETS else "best looking"
        _apply_preset()
    for key, value in (("ideal_seed", 0), ("ideal_compare", True), ("ideal_early_stop", False),
                       ("ideal_several", False), ("ideal_images", 3), ("ideal_diversity", 10.0)):
        links.default(key, value)


def _options() -> dict:
    """The options the Paint button runs with, from the current widget values."""
    s = st.session_state
    steps = int(s["ideal_steps"])
    return dict(param=s["ideal_param"], optimizer=s["ideal_optimizer"], learning_rate=s["ideal_learning_rate"],
                tv_weight=s["ideal_tv_weight"], l2_weight=s["ideal_l2_weight"], jitter=s["ideal_jitter"],
                scale=s["ideal_scale"], rotation=int(s["ideal_rotation"]),
                ce_weight=10.0 if s.get("ideal_preset") == "as in the lesson" else 1.0,
                frame_every=max(1, steps // 20), early_stop=bool(s["ideal_early_stop"]))


def _described(options, steps) -> str:
    """The recipe in words, with every option the run used (defaults filled in, as the run does)."""
    return recipe.describe(optvis.options_for(None, **options), steps)


def _preset_picker():
    help_text = "  \n".join(f"**{name}**: {_described(_preset_values(name), optvis.PRESETS[name]['steps'])}"
                            for name in PRESETS)
    st.pills("Preset", PRESETS, key="ideal_preset", on_change=_apply_preset, args=(True,), help=help_text)


def _settings():
    """The settings expander (collapsed: the Paint button and the picture stay on one screen)."""
    with st.expander("Settings", expanded=False, icon=":material/tune:"):
        st.slider("Steps", 10, MAX_STEPS, key="ideal_steps", step=10)
        st.radio("Parameterisation", ["pixels", "fourier"], key="ideal_param", horizontal=True,
                 format_func={"pixels": "plain pixels", "fourier": "Fourier, decorrelated colour"}.get)
        st.radio("Optimiser", ["sgd", "adam"], key="ideal_optimizer", horizontal=True,
                 format_func={"sgd": "plain gradient steps", "adam": "Adam"}.get)
        st.select_slider("Learning rate", _learning_rates(), key="ideal_learning_rate", format_func=recipe.number,
                         help="The lesson's plain step of 1 on VGG-16's input is 127.5² = 16256.25 on pixels for "
                              "MobileNet/Inception, whose input is pixels / 127.5 (steps 127.5x larger, along "
                              "gradients 127.5x smaller).")
        st.select_slider("Total-variation weight", _tv_weights(), key="ideal_tv_weight", format_func=recipe.number,
                         help="The lesson's 0.005 on VGG-16's input is 0.005 / 127.5 on pixels for MobileNet.")
        st.select_slider("L2 weight", L2_WEIGHTS, key="ideal_l2_weight")
        st.slider("Jitter (pixels)", 0, 32, key="ideal_jitter")
        st.slider("Scale robustness (+-)", 0.0, 0.6, key="ideal_scale", step=0.05)
        st.slider("Rotation robustness (+- degrees)", 0, 45, key="ideal_rotation")
        st.number_input("Seed", 0, 10_000, key="ideal_seed")
        st.toggle("Also run plain noise (no regularisers) for comparison", key="ideal_compare")
        st.toggle("Stop early once the network is sure and the picture has settled", key="ideal_early_stop",
                  help="Ends the run when the class has stayed above 90 % for 10 steps and the "
                       "picture has stopped changing: same image, less waiting.")
    with st.expander("Several images at once, pushed apart", expanded=bool(st.session_state["ideal_several"]),
                     icon=":material/grid_view:"):
        st.toggle("Paint several images at once", key="ideal_several",
                  help="Each image is also pushed away from the others' style (Lucid's diversity term: "
                       "the similarity of which channels fire together at a middle layer), so you see "
                       "several different ideas of the class. Costs one full run per image.")
        st.slider("Images", 2, MAX_IMAGES, key="ideal_images")
        st.select_slider("Diversity weight (0: independent images from different seeds)", DIVERSITY_WEIGHTS,
                         key="ideal_diversity")


def _paint(model, label, names, target, steps, seed, compare, options, place=None):
    """The regularised run and (optionally) the plain-noise run side by side, through the shared scheduler
    (joined or replayed when someone asked for the same already); the outcome is kept in the session."""
    for key in ("ideal_run", "ideal_several_run", "ideal_stopped", "ideal_watch"):  # nothing of an older run
        st.session_state.pop(key, None)
    place = place or st.empty()  # Stop and the progress line: under the Paint button, beside the pictures
    columns = st.columns(2 if compare else 1)
    slots = [{"image": c.empty(), "progress": c.empty(), "chart": c.empty()} for c in columns]
    width = "stretch" if compare else present.px(PICTURE)  # two pictures share the column: each fills its half
    watched, error = [], None
    try:
        watched.append(_follow(model, target, names[target], steps, seed, options, slots[0], "regularised",
                              width))
        if compare:  # both at once: the comparison runs alongside (and is shared by the whole class)
            plain_options = optvis.options_for("plain noise", learning_rate=_lesson()["learning_rate"],
                                               frame_every=max(1, steps // 20))
            plain_options.pop("steps")
            watched.append(_follow(model, target, names[target], steps, seed, plain_options, slots[1],
                                  "plain noise", width))
    except ValueError as exc:
        for subscription, *_ in watched:
            subscription.close()
        watched, error = [], str(exc)
    outcomes = (watch([sub for sub, _ in watched], [draw for _, draw in watched], key="ideal_watch", place=place,
                      every=UI_EVERY_S) if watched else [])
    shared = outcomes[0].note if outcomes else ""
    main, plain, plain_error = None, None, None
    if outcomes:
        main, error = outcomes[0].result, outcomes[0].error
    if len(outcomes) > 1 and main is not None and error is None:
        plain, plain_error = outcomes[1].result, outcomes[1].error
    st.session_state.pop("ideal_stopped", None)
    st.session_state["ideal_run"] = dict(main=main, plain=plain, error=error or plain_error, label=label,
                                         painters=list(members_of(model)) or [label],
                                         class_label=names[target], target=target, options=options, shared=shared)
    st.rerun()


def _paint_several(model, label, names, target, steps, seed, options, place=None):
    """n images at once, pushed apart (explorer.optvis.diverse, not the shared scheduler: it holds a
    heavy-work slot of its own); the first image animates, all n are shown when it ends."""
    for key in ("ideal_run", "ideal_several_run"):
        st.session_state.pop(key, None)
    n, weight = int(st.session_state["ideal_images"]), float(st.session_state["ideal_diversity"])
    options = {k: v for k, v in options.items() if k != "early_stop"}
    options.update(images=n, diversity=weight)
    place, picture, progress = place or st.empty(), st.empty(), st.empty()

    def draw(snap):
        picture.image(snap.image, caption=f"image 1 of {n}: step {snap.step}/{steps}", width=present.px(PICTURE))
        progress.progress(snap.step / steps, text=f"{n} images: step {snap.step}/{steps} (mean p({names[target]}) "
                                                  f"of the jittered copies the network saw: "
                                                  f"{plain_probability(snap.metrics['probability'])})")

    try:
        [done] = watch(paint_several(model, target, steps, seed, **options), draw, key="ideal_watch", place=place,
                       every=UI_EVERY_S)
        result, error = done.result, done.error
    except ValueError as exc:
        result, error = None, str(exc)
    probabilities = ([float(explorer.predict(model, image)[target]) for image in result.images or [result.image]]
                     if result is not None else [])
    st.session_state["ideal_several_run"] = dict(result=result, error=error, label=label, target=target,
                                                 probabilities=probabilities,
                                                 class_label=names[target], options=options, steps=steps)
    st.rerun()


def _show_waiting():
    stopped = st.session_state.get("ideal_stopped")
    if stopped is not None:
        p = stopped.get("probability")
        said = f", p = {plain_probability(p)}" if p is not None else ""
        st.warning(f"The last run was stopped at step {stopped['step']} of {stopped['steps']} ({stopped['label']}"
                   f"{said}). Press **Paint the ideal image** to run again.", icon=":material/stop_circle:")
        st.image(stopped["image"], caption=f"{stopped['label']}: step {stopped['step']}", width=present.px(PICTURE))
    elif any(o.stopped for o in st.session_state.get("ideal_watch") or []):
        st.info("Stopped before the first step was drawn. Press **Paint the ideal image** to run again.",
                icon=":material/stop_circle:")
    else:
        steps = int(st.session_state.get("ideal_steps") or optvis.PRESETS["best looking"]["steps"])
        minutes = "about a minute" if steps <= 400 else f"about {round(steps / 300)} minutes"
        # the steps the chosen preset or setting will run (the lesson preset runs 1000, not 300)
        st.info(f"Pick a model and a class, then press **Paint the ideal image**. A run of {steps} steps takes "
                f"{minutes} on a laptop; the picture and the curves update here as it goes.", icon=":material/brush:")


def _show_pair(main, plain, class_label, options):
    """The regularised image beside the plain-noise one, each with its curves."""
    # anchor=False: a heading's link icon sits after its text; beside "Regularised" in a presenting half
    # column it wrapped onto a line of its own, so that picture sat 45 px below "Plain noise"'s.
    columns = st.columns(2 if plain is not None else 1)
    width = "stretch" if plain is not None else present.px(PICTURE)
    with columns[0]:
        st.subheader("Regularised", anchor=False)
        st.image(main.image, caption=_result_caption(main, "regularised", class_label), width=width)
        st.plotly_chart(_curves(main.history, main.losses), width="stretch", key="ideal_curve_main")
    if plain is not None:
        with columns[1]:
            st.subheader("Plain noise", anchor=False)
            st.image(plain.image, caption=_result_caption(plain, "no regularisers", class_label),
                     width=width)
            st.plotly_chart(_curves(plain.history, plain.losses), width="stretch", key="ideal_curve_plain")
    st.caption(f"What ran (regularised): {_described(options, main.steps)}")
    with present.details("About the curves"):
        st.caption("The red curve follows the randomly shifted, zoomed and rotated copy the network judged at "
                   "each step (hence the noise); the numbers under the pictures are for the pictures themselves.")
    if plain is not None:
        helped = [name for key, name in (("tv_weight", "the total-variation penalty"), ("l2_weight", "the L2 penalty"))
                  if options.get(key, 0) > 0]
        if options.get("jitter", 0) or options.get("scale", 0) or options.get("rotation", 0):
            helped.append("the random transformations")
        if options.get("param") == "fourier":
            helped.append("the Fourier parameterisation")
        why = " and ".join(helped) if helped else "nothing (these settings regularise nothing)"
        st.caption(f"Both images convince the network. What set the regularised one apart: {why}; without "
                   "them gradient ascent finds high-frequency patterns the network reacts to but we do not.")


def _offer_downloads(main, class_label):
    """PNG and animated GIF of the result, encoded only when clicked (a GIF of the whole run costs a
    second or two: thirty students seeing the result must not each encode one they may never save)."""
    name = class_label.replace(" ", "_")
    save = st.columns(2)
    save[0].download_button("Save the image (PNG)", lambda: optvis.png_bytes(main.image), f"ideal_{name}.png",
                            "image/png", icon=":material/download:", on_click="ignore")
    save[1].download_button("Save the run (animated GIF)",
                            lambda: optvis.gif_bytes(main.frames or [main.image], size=224),
                            f"ideal_{name}.gif", "image/gif", icon=":material/animation:", on_click="ignore")


def _show_done(done):
    if done["error"]:
        st.error(done["error"], icon=":material/warning:")
    main = done["main"]
    if main is None:
        return
    _show_pair(main, done["plain"], done["class_label"], done.get("options") or main.options)
    if done.get("shared"):
        st.caption(done["shared"])
    _offer_downloads(main, done["class_label"])
    st.subheader("Does another network also see it?")
    _second_opinion(main.image, done)


def _show_several(done):
    if done["error"]:
        st.error(done["error"], icon=":material/warning:")
    result = done["result"]
    if result is None:
        return
    images = result.images or [result.image]
    st.subheader(f"{len(images)} ideal images of {done['class_label']}, pushed apart")
    for column, image, p in zip(st.columns(len(images)), images, done["probabilities"]):
        column.image(image, caption=f"p({done['class_label']}) = {plain_probability(p)}", width="stretch")
    st.caption(f"What ran: {_described(done['options'], result.steps)} Each image starts from its own seed; "
               "the p under each is for that picture itself.")


def _controls(button_slot):
    """The control column: model, class, preset, settings folded below; the Paint button, its Stop and
    progress line go in ``button_slot`` (the top of the output column, right above the picture).
    Returns (label, model, class names, target, Paint pressed, the Stop and progress place)."""
    first = model_params()
    links.restore(first)
    label, model, names = _model_picker()
    if model is not None:
        warm.compile_in_background(model)  # once per model: the class's first Paint then starts at once
    params = first + setting_params(names)
    _defaults(model)
    links.restore(params[len(first):])
    target = _class_picker(names)
    _preset_picker()
    with present.details("What will run"):
        st.caption(f"Runs: {_described(_options(), st.session_state['ideal_steps'])}")
    run = button_slot.button("Paint the ideal image", type="primary", disabled=model is None or target is None,
                             icon=":material/brush:", width="stretch")
    stop_place = button_slot.empty()  # a run's Stop and progress line, right under the button
    _settings()
    links.share(params, key="ideal_share")
    links.publish(params)
    return label, model, names, target, run, stop_place


st.title("Ideal class image")
st.markdown("What does the network think a **cat** is? Start from noise and change the pixels, step by step, in "
            "the direction that raises the network's probability for the class (gradient ascent on the image).")

# The Paint button heads the output column, right above the picture it paints: under the model, class and
# preset it sat below the fold at 1440x900 (issue 23's walk), and at the top of the controls a phone (columns
# one under the other) drew the picture below every control, off screen. On a narrow screen the output column
# goes first (CSS ``order``, from the width at which Streamlit stacks columns), so the Paint button, its
# progress and the picture come right after the title and the controls follow.
present.style("@media (max-width: 640px) { [data-testid=\"stColumn\"]:has(.st-key-ideal_output) "
              "{ order: -1; } }", "ideal-phone-order")
controls, output = st.columns([1.1, 1.4] if present.is_on() else [1, 1.7], gap="medium")
output = output.container(key="ideal_output")
with controls:
    label, model, names, target, run, stop_place = _controls(output.container())

with output:
    several = bool(st.session_state["ideal_several"])
    if run and several:
        _paint_several(model, label, names, target, int(st.session_state["ideal_steps"]),
                       int(st.session_state["ideal_seed"]), _options(), place=stop_place)
    elif run:
        _paint(model, label, names, target, int(st.session_state["ideal_steps"]), int(st.session_state["ideal_seed"]),
               bool(st.session_state["ideal_compare"]), _options(), place=stop_place)
    if st.session_state.get("ideal_several_run") is not None:
        _show_several(st.session_state["ideal_several_run"])
    elif st.session_state.get("ideal_run") is not None:
        _show_done(st.session_state["ideal_run"])
    else:
        _show_waiting()
