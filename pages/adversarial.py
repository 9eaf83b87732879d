"""Adversarial example: change a photo by a pixel level or two until the network is sure it shows a cat."""

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import explorer
from explorer.attacks import single as attacks, shared as shared_attacks, verdicts
from explorer.models import classifier, zoo
from explorer.plain_numbers import plain_probability, probability_ticks
from explorer.serving import content_key
from ui import attack_sections, links, present
from ui.models import GEOMETRY_NOTE, choices, model_select, title_of, top5
from ui.photo import photo_input, sample_param
from ui.runs import watch
from ui.shell import require_shell

require_shell()

MAX_SIDE = 768  # photos are scaled down to this for the attack (the API takes any size)
EPSILONS = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 255]
SURE = [0.0, 0.5, 0.75, 0.9, 0.95, 0.99]  # "how sure": stop once p(target) reaches this (0: the first flip)
PGD_STEPS = [0.25, 0.5, 1, 2, 4, 8]  # PGD's first step, in budgets (epsilon)
LESSON_RATES = [100, 300, 1000, 2000, 5000, 10_000, 30_000, 100_000]
METHOD_LABELS = {"pgd": "PGD", "fgsm": "FGSM", "lesson": "Lesson"}
FRAME_SECONDS = 0.25  # redraw the animation at most this often
DEFAULT_PHOTO = "Coffee cup"
IMAGENET_TARGET = "adv_target_1000"  # the target picker's key for ImageNet networks

PARAMS = [
    sample_param("adv_photo"),
    links.choice("adv_model", "model", choices(zoo.VARIANTS)),
    links.choice(IMAGENET_TARGET, "target", range(1000), int),
    links.number("adv_epsilon", "eps", 0, 255, int, options=EPSILONS),
    links.number("adv_confidence", "sure", 0, 0.99, float, options=SURE),
    links.choice("adv_method", "method", list(METHOD_LABELS)),
    links.number("adv_steps", "steps", 1, 500, int),
    links.flag("adv_transfer", "transfer"),
]


def sure_label(p: float) -> str:
    return "top class" if p <= 0 else f"{p:.0%}"


def curve(history: list[float], target_name: str, steps: int, confidence: float, label: str) -> go.Figure:
    """The target's probability per step, on a log scale (attacks lift it by orders of magnitude), with
    ticks in plain words."""
    lowest = max(min(min(history), 1e-3), 1e-12)
    values, labels = probability_ticks(lowest)
    fig = go.Figure(go.Scatter(x=list(range(len(history))), y=history, mode="lines+markers", name=target_name,
                               line={"color": "#d62728"},
                               text=[plain_probability(p) for p in history],
                               hovertemplate="step %{x}: %{text}<extra></extra>"))
    goal = ""
    if confidence > 0:
        fig.add_hline(y=confidence, line_dash="dash", line_color="#2ca02c")
        goal = f" (dashed: the goal, {attack_sections.percent(confidence)})"
    fig.update_layout(height=250, margin={"l": 10, "r": 10, "t": 36, "b": 10}, showlegend=False,
                      title=f"{label} after each step{goal}",
                      xaxis={"title": "step", "range": [0, max(steps, len(history) - 1, 1)]},
                      yaxis={"type": "log", "range": [np.log10(lowest) - 0.2, 0.05], "tickvals": values,
                             "ticktext": labels})
    return present.style_figure(fig)


class Frames:
    """Draws the original, the amplified perturbation, the adversarial photo and the curve in place."""

    def __init__(self):
        self.images = [column.empty() for column in st.columns(3)]
        self.curve = st.empty()
        self.drawn = 0

    def draw(self, original, adversarial_image, history, target_name, steps, confidence, caption="",
             label=None):
        change = adversarial_image.astype(np.int16) - original.astype(np.int16)
        picture, factor = attacks.amplify(change)
        peak = int(np.abs(change).max())
        self.images[0].image(original, caption="Original", width="stretch")
        self.images[1].image(picture, width="stretch",
                             caption=f"The change ×{factor:.0f} (really ±{peak} of 255; grey: none)" if peak
                             else "The change: nothing yet")
        self.images[2].image(adversarial_image, caption=caption or "Adversarial", width="stretch")
        self.drawn += 1  # a fresh key each time: the same chart may be drawn twice in one run
        self.curve.plotly_chart(curve(history, target_name, steps, confidence, label or f"p('{target_name}')"),
                                key=f"adv_curve_{self.drawn}", config={"displayModeBar": False})


@dataclass
class Attack:
    """What the settings column asks for: the photo, the network(s), the target and the method's knobs."""

    photo: np.ndarray
    choice: str
    model: object
    names: list
    target: int
    method: str
    epsilon: int
    steps: int
    step_size: float | None
    confidence: float
    also: list = field(default_factory=list)  # more zoo networks attacked at once (the ensemble)
    transfer: bool = False  # "make it transfer": momentum + input diversity, on past the usual stopping point

    @property
    def target_name(self) -> str:
        return self.names[self.target]

    @property
    def model_label(self) -> str:
        return title_of(self.choice)

    @property
    def goal(self) -> float:
        """How sure the attacked networks must become: made to transfer, it runs on to TRANSFER_SURE."""
        return attack_sections.TRANSFER_SURE if self.transfer else self.confidence

    @property
    def planned(self) -> int:
        return 1 if self.method == "fgsm" else self.steps

    @property
    def models(self) -> list:
        return [self.model] + [attack_sections.load_judge(k) for k in self.also]

    @property
    def attacked(self) -> list[str]:
        return attack_sections.attacked_titles(self.choice, self.also)

    @property
    def signature(self) -> tuple:
        return (content_key(self.photo), self.choice, self.target,
                self.method, self.epsilon, self.steps, self.step_size, self.confidence, tuple(self.also),
                self.transfer)


def pick_photo() -> np.ndarray:
    photo, source = photo_input("adv_photo", default_sample=DEFAULT_PHOTO)
    if max(photo.shape[:2]) > MAX_SIDE:
        photo = attacks.shrink(photo, MAX_SIDE)
    st.caption(f"{source[:1].upper() + source[1:]}, {photo.shape[1]}x{photo.shape[0]} px",
               help=f"Photos are attacked at {MAX_SIDE} px a side at most. " + GEOMETRY_NOTE)
    return photo


def pick_target(names: list[str]) -> int:
    key = IMAGENET_TARGET if len(names) == 1000 else f"adv_target_{len(names)}"
    links.default(key, explorer.TABBY if len(names) == 1000 else len(names) - 1)
    return st.selectbox("Make it see", range(len(names)), format_func=lambda i: f"{names[i]} ({i})", key=key,
                        help="Type to search the class names.")


def method_settings(choice: str, names: list[str]) -> tuple:
    """The collapsed expander: method, steps, the method's step size and more networks to attack at once."""
    with st.expander("Method, steps, ensemble"):
        method = st.segmented_control("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get,
                                      required=True, key="adv_method")
        st.caption(attacks.METHODS[method] + ".")
        steps = st.slider("Steps (at most: it stops once the network is that sure)", 1, 500, key="adv_steps",
                          disabled=method == "fgsm")
        step_size = None
        if method == "lesson":
            step_size = st.select_slider("Learning rate (pixel levels per unit of gradient)", LESSON_RATES,
                                         value=int(attacks.LESSON_LEARNING_RATE), key="adv_rate")
        elif method == "pgd":
            transfer = bool(st.session_state.get("adv_transfer"))  # it takes its own steps: the slider rests
            step_size = st.select_slider("First step, in budgets ε (later steps shrink)", PGD_STEPS, value=1,
                                         key="adv_step", disabled=transfer,
                                         help=f"Make it transfer takes steps of {attack_sections.TRANSFER_STEP:g} "
                                              "ε each, all the same size." if transfer else None)
        also = []
        if len(names) == 1000 and choice in zoo.VARIANTS:
            others = [k for k in attack_sections.judges() if k != choice]
            also = st.multiselect("Attack these networks at the same time (an ensemble)", others,
                                  format_func=lambda k: zoo.VARIANTS[k].title, key="adv_also",
                                  help="One change that must fool every one of them: it fools networks it "
                                       "never saw more often.")
        transfer = attack_sections.transfer_toggle(method)
    return method, steps, step_size, also, transfer and method == "pgd"


def attack_settings() -> Attack:
    """The settings column: photo, network, target, budget and how sure; method, steps and the ensemble
    collapsed below them (stops the page without a model)."""
    links.default("adv_epsilon", attacks.DEFAULTS["epsilon"])
    links.default("adv_confidence", attacks.DEFAULTS["confidence"])
    links.default("adv_method", attacks.DEFAULTS["method"])
    links.default("adv_steps", attacks.DEFAULTS["steps"])
    photo = pick_photo()
    choice, model = model_select("Network to fool", "adv_model", "mobilenet_v2", variants=zoo.VARIANTS, user=True)
    if model is None:
        st.info("Pick a network whose weights are here, or switch on random weights above.")
        st.stop()
    names = classifier.class_names_of(model)
    target = pick_target(names)
    epsilon = st.select_slider("Budget ε: most a pixel may change (of 255)", EPSILONS, key="adv_epsilon",
                               help="In pixel levels: 1 is the smallest change an 8-bit photo can hold.")
    # made to transfer (the switch below, PGD only) runs on to its own goal: this slider then says so, greyed
    transferring = bool(st.session_state.get("adv_transfer")) and st.session_state.get("adv_method", "pgd") == "pgd"
    confidence = st.select_slider("How sure must the network become?", SURE, format_func=sure_label,
                                  key="adv_confidence", disabled=transferring,
                                  help=(f"Made to transfer (below), it runs on until every attacked network is "
                                        f"{attack_sections.percent(attack_sections.TRANSFER_SURE)} sure; this "
                                        "slider is for the plain attack and the sweep." if transferring else
                                        "The attack stops once the target has this probability ('top class': as "
                                        "soon as it is the network's first choice)."))
    method, steps, step_size, also, transfer = method_settings(choice, names)
    if method == "pgd" and step_size is not None and not transfer:  # the transfer mode has its own steps
        step_size = max(epsilon, 1) * step_size
    elif transfer:
        step_size = None
    return Attack(photo, choice, model, names, target, method, epsilon, steps, step_size, confidence, also,
                  transfer)


def run_attack(attack: Attack, frames: Frames, alert, status) -> None:
    """Run the attack (computed once for the class: joined or replayed when someone asked the same),
    animating each step in place; the result is kept in the session."""
    starting = "Starting (the first run of a network compiles its step)..."
    status.progress(0.0, text=starting)
    several = len(attack.also) > 0 or attack.transfer
    label = f"p('{attack.target_name}')" + (f", mean of {len(attack.also) + 1} networks" if attack.also else "")
    def draw(snap):
        if not snap.log:
            status.progress(0.0, text=starting)
            return
        metrics = snap.metrics
        text = (f"Step {snap.step} of at most {attack.planned}: {label} "
                f"{plain_probability(metrics['probability'])}")
        if "top_class" in metrics:
            text += (f"; it sees '{attack.names[metrics['top_class']]}' "
                     f"({plain_probability(metrics['top_probability'])})")
        status.progress(min(1.0, snap.step / max(attack.planned, 1)), text=text)
        frames.draw(attack.photo, snap.image, snap.history, attack.target_name, attack.planned,
                    attack.goal, caption=f"Step {snap.step}: {plain_probability(metrics['probability'])}",
                    label=label)

    start = float(classifier.predict(attack.model, attack.photo)[attack.target])  # the pictures stay up meanwhile
    frames.draw(attack.photo, attack.photo, [start], attack.target_name, attack.planned, attack.goal,
                caption="Starting...", label=label)
    try:
        models = attack.models
        subscription = shared_attacks.attack(models if several else attack.model, attack.photo, attack.target,
                                             epsilon=attack.epsilon, steps=attack.steps, method=attack.method,
                                             step_size=attack.step_size, confidence=attack.confidence,
                                             transfer=attack.transfer)
    except (ValueError, RuntimeError, explorer.WeightsUnavailable) as exc:
        alert.error(f"The attack could not run: {exc}", icon=":material/error:")
        return
    [done] = watch(subscription, draw, key="adv_outcome", place=alert, every=FRAME_SECONDS)
    if done.error is not None:
        alert.error(f"The attack could not run: {done.error}" if not done.stopped else done.error,
                    icon=":material/error:")
    else:
        st.session_state["adv_result"] = {
            "result": done.result, "signature": attack.signature, "model": attack.model_label,
            "names": attack.names, "network": attack.model, "attacked": attack.attacked,
            "attacked_keys": [attack.choice, *attack.also], "confidence": attack.goal, "label": label,
            "shared": done.note}


def show_not_attacked(attack: Attack, frames: Frames, before_slot, status) -> None:
    probs = verdicts.shared_predict(attack.model, attack.photo)  # a class opens this page on the same photo
    frames.draw(attack.photo, attack.photo, [float(probs[attack.target])], attack.target_name, attack.planned,
                attack.goal, caption="Not attacked yet")
    with before_slot.container():
        top5(attack.model, probs, target=attack.target, title=f"{attack.model_label} sees")
    until = (f"for {attack.steps} steps, or until every attacked network is "
             f"{attack_sections.percent(attack_sections.TRANSFER_SURE)} sure it sees '{attack.target_name}' (made to transfer)"
             if attack.transfer else attack_sections.sure_words(attack.confidence, attack.target_name))
    status.info(f"Press **Fool the network**: it changes the photo by at most {attack.epsilon} level(s) of 255 "
                f"{until}.", icon=":material/touch_app:")


def verdict(saved: dict) -> tuple[bool, str]:
    """The headline: exactly what ran and what the network now says."""
    result, names = saved["result"], saved["names"]
    top = int(np.argmax(result.probs_after))
    p_target = float(result.probs_after[result.target])
    how = (f"after {result.steps} step(s) that changed no pixel by more than {result.linf:.0f} level(s) of 255")
    if result.transfer:
        how = (f"made to transfer ({attack_sections.transfer_words(result)}; no pixel changed by more than "
               f"{result.linf:.0f} level(s) of 255)")
    if result.success:
        sure = (f"is now {plain_probability(p_target)} sure it sees **{names[top]}**" if saved["confidence"] > 0
                else f"now sees **{names[top]}** first ({plain_probability(p_target)})")
        others = len(saved["attacked"]) - 1
        also = f" (so are the other {others} attacked network(s))" if others else ""
        # an ensemble: the headline's number is this one network's; the metric below is the ensemble's average
        whose = f" (its own probability; the first of the {others + 1} attacked)" if others else ""
        return True, f"Fooled. {saved['model']} {sure}{whose}{also}, {how}."
    wanted = "the top class" if saved["confidence"] <= 0 else attack_sections.percent(saved["confidence"])
    hint = " Raise the budget ε." if result.epsilon == 0 else " Try more steps, PGD, or a larger budget ε."
    if top == result.target:
        return False, (f"Not sure enough yet: {saved['model']} sees **{names[top]}** first, but only "
                       f"{plain_probability(p_target)} sure (the goal was {wanted}), {how}.{hint}")
    return False, (f"Not fooled yet: {saved['model']} gives '{names[result.target]}' "
                   f"{plain_probability(p_target)} (the goal was {wanted}) and still sees **{names[top]}** "
                   f"({plain_probability(float(result.probs_after[top]))}), {how}.{hint}")


def show_metrics(result, name_used: str, attacked: int = 1) -> None:
    cols = st.columns(4)
    # with several networks attacked at once the curve is their average: say so in the label
    label = f"p('{name_used}')" + (f", average of the {attacked} attacked" if attacked > 1 else "")
    cols[0].metric(label, plain_probability(result.history[-1]),
                   f"was {plain_probability(result.history[0])}", delta_color="off",
                   help=("The mean over the attacked networks of each one's probability; the headline gives the "
                         "first network's own." if attacked > 1 else None))
    cols[1].metric("Largest change (levels)", f"{result.linf:.0f}", help="L∞: the largest change of any pixel.")
    cols[2].metric("Total change (levels)", f"{result.l2:.0f}", help="L2: the Euclidean length of the whole change.")
    cols[3].metric("Steps", result.steps, help=f"{result.seconds:.1f} s")
    for note in result.notes:
        st.caption(note)


def offer_download(result, name_used: str) -> None:
    st.download_button("Download the adversarial photo (PNG)", lambda: attacks.png_bytes(result.image),
                       file_name=f"adversarial_{name_used.replace(' ', '_')}.png", mime="image/png",
                       icon=":material/download:", on_click="ignore")
    with present.details("About the download"):
        st.caption("Lossless 8-bit PNG: exactly the pixels scored above, so it still fools the network when "
                   "loaded again. (JPEG would blur the perturbation away.)")


def show_result(saved: dict, attack: Attack, frames: Frames, before_slot, after_slot, status) -> None:
    """The last attack: frames, top-5 before and after, the verdict."""
    result = saved["result"]
    name_used = saved["names"][result.target]
    frames.draw(result.original, result.image, result.history, name_used, max(result.steps, 1),
                saved["confidence"], caption=f"Adversarial: {plain_probability(float(result.history[-1]))}",
                label=saved["label"])
    with before_slot.container():
        top5(saved["network"], result.probs_before, target=result.target, title="Before")
    with after_slot.container():
        top5(saved["network"], result.probs_after, target=result.target, title="After")
    fooled, text = verdict(saved)
    if fooled:
        status.success(text, icon=":material/bug_report:")
    else:
        status.warning(text, icon=":material/shield:")
    if saved.get("shared"):
        st.caption(saved["shared"])
    if saved["signature"] != attack.signature:
        st.caption("Settings changed since this run: press **Fool the network** to run again.")


st.title("Adversarial example")
links.restore(PARAMS)
st.markdown("Change each pixel by **a level or two out of 255**, too little to see, until the network is sure "
            "it sees something else: backpropagation, *with respect to the pixels*, turned against the network.")

# presenting: the side bar is wider, so the settings column gives up room and the pictures keep (at least)
# their normal size (they were 160 px instead of 189 at 1440x900)
settings, results = (st.columns([0.7, 2], gap="medium") if present.is_on() else st.columns([1.1, 2], gap="large"))
with settings:
    attack = attack_settings()
    links.publish(PARAMS)
    share = st.container() if present.is_on() else None  # presenting, the large type needs the row for the button

with results:  # the button sits on top of the pictures it animates: both on one screen, presenting too
    press, beside = st.columns([3, 2], vertical_alignment="center")
    go_clicked = press.button("Fool the network", type="primary", icon=":material/bug_report:", key="adv_go")
    with share or beside:
        links.share(PARAMS, key="adv_share")
    alert, status = st.empty(), st.empty()
    frames = Frames()
    before_slot, after_slot = (column.empty() for column in st.columns(2))
    if go_clicked:
        run_attack(attack, frames, alert, status)
    saved = st.session_state.get("adv_result")
    if saved is None:
        show_not_attacked(attack, frames, before_slot, status)
    else:
        show_result(saved, attack, frames, before_slot, after_slot, status)

if saved is not None:
    show_metrics(saved["result"], saved["names"][saved["result"].target], len(saved["attacked"]))
    offer_download(saved["result"], saved["names"][saved["result"].target])
    attack_sections.gradcam_pair(saved)
    attack_sections.verdict_table(saved)
attack_sections.epsilon_sweep(attack, attack.models, attack.signature)
