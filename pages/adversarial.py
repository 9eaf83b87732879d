"""Adversarial example: change a photo by a pixel level or two until the network is sure it shows a cat."""

import hashlib
import time
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import explorer
from explorer import attacks, classifier, zoo
from ui.models import GEOMETRY_NOTE, model_select, second_opinion, title_of, top5
from ui.photo import photo_input
from ui.runs import queued_run
from ui.shell import require_shell

require_shell()

MAX_SIDE = 768  # photos are scaled down to this for the attack (the API takes any size)
EPSILONS = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 255]
PGD_STEPS = [0.25, 0.5, 1, 2, 4, 8]  # PGD's first step, in budgets (epsilon)
LESSON_RATES = [100, 300, 1000, 2000, 5000, 10_000, 30_000, 100_000]
METHOD_LABELS = {"pgd": "PGD", "fgsm": "FGSM", "lesson": "Lesson"}
FRAME_SECONDS = 0.25  # redraw the animation at most this often


def show_top5(slot, title: str, model, probs: np.ndarray, target: int) -> None:
    with slot.container():
        top5(model, probs, target=target, title=title)


def curve(history: list[float], target_name: str, steps: int) -> go.Figure:
    """The target's probability per step, on a log scale: attacks lift it by orders of magnitude."""
    fig = go.Figure(go.Scatter(x=list(range(len(history))), y=history, mode="lines+markers", name=target_name,
                               line={"color": "#d62728"}))
    lowest = max(min(min(history), 1e-3), 1e-12)
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 36, "b": 10},
                      title=f"Probability of '{target_name}' after each step (log scale)",
                      xaxis={"title": "step", "range": [0, max(steps, len(history) - 1, 1)]},
                      yaxis={"title": "probability", "type": "log", "range": [np.log10(lowest) - 0.2, 0.05]})
    return fig


def percent(p: float) -> str:
    """A probability that stays readable when it is tiny (0.000004% reads as 4.0e-08)."""
    return f"{p:.1%}" if p >= 1e-3 else f"{p:.1e}"


class Frames:
    """Draws the original, the amplified perturbation, the adversarial photo and the curve in place."""

    def __init__(self):
        self.images = [column.empty() for column in st.columns(3)]
        self.curve = st.empty()
        self.drawn = 0

    def draw(self, original, adversarial_image, history, target_name, steps, caption=""):
        change = adversarial_image.astype(np.int16) - original.astype(np.int16)
        picture, factor = attacks.amplify(change)
        peak = int(np.abs(change).max())
        self.images[0].image(original, caption="Original", width="stretch")
        self.images[1].image(picture, width="stretch",
                             caption=f"Perturbation, amplified ×{factor:.0f}: the true change is at most "
                                     f"±{peak} of 255 levels (grey: unchanged)" if peak
                             else "Perturbation: no change yet")
        self.images[2].image(adversarial_image, caption=caption or "Adversarial", width="stretch")
        self.drawn += 1  # a fresh key each time: the same chart may be drawn twice in one run
        self.curve.plotly_chart(curve(history, target_name, steps), key=f"adv_curve_{self.drawn}",
                                config={"displayModeBar": False})


@dataclass
class Attack:
    """What the settings column asks for: the photo, the network, the target and the method's knobs."""

    photo: np.ndarray
    model_label: str
    model: object
    names: list
    target: int
    method: str
    epsilon: int
    steps: int
    step_size: float | None
    confidence: float

    @property
    def target_name(self) -> str:
        return self.names[self.target]

    @property
    def planned(self) -> int:
        return 1 if self.method == "fgsm" else self.steps

    @property
    def signature(self) -> tuple:
        return (hashlib.sha1(self.photo.tobytes()).hexdigest(), self.photo.shape, self.model_label, self.target,
                self.method, self.epsilon, self.steps, self.step_size, self.confidence)


def pick_photo() -> np.ndarray:
    photo, source = photo_input("adv_photo", default_sample="Coffee cup")
    st.caption(source + ". " + GEOMETRY_NOTE)
    if max(photo.shape[:2]) > MAX_SIDE:
        st.caption(f"Scaled to {MAX_SIDE} px on its longer side for the attack.")
        photo = attacks.shrink(photo, MAX_SIDE)
    return photo


def method_settings(method: str, epsilon: int) -> tuple[float | None, float]:
    """The Advanced expander: the method's step size (None: FGSM's whole budget) and the confidence to reach."""
    with st.expander("Advanced"):
        step_size = None
        if method == "lesson":
            step_size = st.select_slider("Learning rate (pixel levels per unit of gradient)", LESSON_RATES,
                                         value=int(attacks.LESSON_LEARNING_RATE), key="adv_rate")
        elif method == "pgd":
            step_size = max(epsilon, 1) * st.select_slider("First step, in budgets ε (later steps shrink)",
                                                           PGD_STEPS, value=1, key="adv_step")
        confidence = st.slider("Keep going until it is this sure", 0.0, 0.99, 0.0, 0.01, key="adv_confidence",
                               help="0: stop as soon as the target is the top class.")
    return step_size, confidence


def attack_settings() -> Attack:
    """The settings column: photo, network, target class, method, budget and steps (stops the page without a model)."""
    photo = pick_photo()
    choice, model = model_select("Network to fool", "adv_model", "mobilenet_v2", variants=zoo.VARIANTS, user=True)
    model_label = title_of(choice)
    if model is None:
        st.info("Pick a network whose weights are here, or switch on random weights above.")
        st.stop()
    names = classifier.class_names_of(model)
    target = st.selectbox("Make it see", range(len(names)), format_func=lambda i: f"{names[i]} ({i})",
                          index=explorer.TABBY if len(names) == 1000 else len(names) - 1,
                          key=f"adv_target_{len(names)}", help="Type to search the class names.")
    method = st.segmented_control("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, default="pgd",
                                  required=True, key="adv_method")
    epsilon = st.select_slider("Budget ε: largest change of any pixel (levels of 255)", EPSILONS, value=1,
                               key="adv_epsilon")
    steps = st.slider("Steps (at most; it stops once the network is fooled)", 1, 500, 40, key="adv_steps",
                      disabled=method == "fgsm")
    step_size, confidence = method_settings(method, epsilon)
    st.caption(attacks.METHODS[method] + ".")
    return Attack(photo, model_label, model, names, target, method, epsilon, steps, step_size, confidence)


def run_attack(attack: Attack, frames: Frames, alert, status) -> None:
    """Run the attack, animating each step in place; the result is kept in the session."""
    progress = status.progress(0.0, text="Starting (the first run of a network compiles its step)...")
    last_draw, history = [0.0], []

    def animate(step, image, metrics):
        history.append(metrics["probability"])
        progress.progress(min(1.0, step / attack.planned),
                          text=f"Step {step}: '{attack.target_name}' {metrics['probability']:.1%}, top class "
                               f"'{attack.names[metrics['top_class']]}' {metrics['top_probability']:.1%}")
        if time.perf_counter() - last_draw[0] >= FRAME_SECONDS:
            frames.draw(attack.photo, image, history, attack.target_name, attack.planned, caption=f"Step {step}")
            last_draw[0] = time.perf_counter()

    try:
        with queued_run(alert):
            result = explorer.adversarial(attack.model, attack.photo, attack.target, epsilon=attack.epsilon,
                                          steps=attack.steps, method=attack.method, callback=animate,
                                          step_size=attack.step_size, confidence=attack.confidence)
    except (ValueError, RuntimeError) as exc:
        alert.error(f"The attack could not run: {exc}", icon=":material/error:")
    else:
        st.session_state["adv_result"] = {"result": result, "signature": attack.signature,
                                          "model": attack.model_label, "names": attack.names, "network": attack.model}


def show_not_attacked(attack: Attack, frames: Frames, before_slot, status) -> None:
    probs = classifier.predict(attack.model, attack.photo)
    frames.draw(attack.photo, attack.photo, [float(probs[attack.target])], attack.target_name, attack.planned,
                caption="Not attacked yet")
    show_top5(before_slot, f"{attack.model_label} sees", attack.model, probs, attack.target)
    status.info("Pick a target class and press **Fool the network**.", icon=":material/touch_app:")


def show_verdict(saved: dict, status) -> None:
    result, names = saved["result"], saved["names"]
    name_used = names[result.target]
    top = int(np.argmax(result.probs_after))
    verdict = (f"{saved['model']} now sees **{names[top]}** ({result.probs_after[top]:.1%}) after "
               f"{result.steps} step(s), changing no pixel by more than {result.linf:.0f} level(s).")
    if result.success:
        status.success("Fooled. " + verdict, icon=":material/bug_report:")
    else:
        hint = " Raise the budget ε." if result.epsilon == 0 else " Try more steps, PGD, or a larger budget ε."
        status.warning(f"Not fooled yet: '{name_used}' is at {result.history[-1]:.1%}. " + verdict + hint,
                       icon=":material/shield:")


def show_metrics(result, name_used: str) -> None:
    cols = st.columns(4)
    cols[0].metric(f"p('{name_used}')", f"{result.history[-1]:.1%}", f"{result.history[-1] - result.history[0]:+.1%}")
    cols[1].metric("L∞ (levels)", f"{result.linf:.0f}", help="Largest change of any pixel channel.")
    cols[2].metric("L2 (levels)", f"{result.l2:.0f}", help="Euclidean length of the whole change.")
    cols[3].metric("Steps", result.steps, help=f"{result.seconds:.1f} s")
    for note in result.notes:
        st.caption(note)


def show_transfer(result, name_used: str) -> None:
    """A second network judges the original and the adversarial photo."""
    st.subheader("Does the attack transfer?")
    st.markdown("Judge the same two photos with a second, different network. Tiny attacks made for one "
                "network rarely fool another; attacking several networks at once (an ensemble) transfers "
                "far better.")
    label2, _, check = second_opinion("Second network", "adv_model2", "mobilenet_0.75", result.original,
                                      result.image, name_used)
    if check is None:
        return
    seen = f"{label2} sees **{check.top_before[1]}** ({check.top_before[2]:.1%}) before and " \
           f"**{check.top_after[1]}** ({check.top_after[2]:.1%}) after."
    if not check.known:
        st.info(f"{label2} has no class '{name_used}'. " + seen)
    elif check.fooled:
        st.warning("Fooled too! " + seen, icon=":material/bug_report:")
    else:
        st.success(f"Not fooled: '{name_used}' goes from {percent(check.probability_before)} to "
                   f"{percent(check.probability_after)}. " + seen, icon=":material/verified_user:")


def offer_download(result, name_used: str) -> None:
    st.download_button("Download the adversarial photo (PNG)", attacks.png_bytes(result.image),
                       file_name=f"adversarial_{name_used.replace(' ', '_')}.png", mime="image/png",
                       icon=":material/download:", on_click="ignore")
    st.caption("Lossless 8-bit PNG: exactly the pixels scored above, so it still fools the network when "
               "loaded again. (JPEG would blur the perturbation away.)")


def show_result(saved: dict, attack: Attack, frames: Frames, before_slot, after_slot, status) -> None:
    """The last attack: frames, top-5 before and after, verdict, metrics, transfer check and download."""
    result = saved["result"]
    name_used = saved["names"][result.target]
    frames.draw(result.original, result.image, result.history, name_used, max(result.steps, 1),
                caption="Adversarial (saved as uint8)")
    show_top5(before_slot, "Before", saved["network"], result.probs_before, result.target)
    show_top5(after_slot, "After", saved["network"], result.probs_after, result.target)
    show_verdict(saved, status)
    if saved["signature"] != attack.signature:
        st.caption("Settings changed since this run: press **Fool the network** to run again.")
    show_metrics(result, name_used)
    show_transfer(result, name_used)
    offer_download(result, name_used)


st.title("Adversarial example")
st.markdown(
    "Change every pixel of a photo by **one or two levels out of 255**, far too little to see, and a network "
    "becomes sure it shows a cat. The attack follows the gradient of the network's loss *with respect to the "
    "pixels*: the same backpropagation that trains it, turned against it."
)

settings, results = st.columns([1, 2.3], gap="large")
with settings:
    attack = attack_settings()
    go_clicked = st.button("Fool the network", type="primary", icon=":material/bug_report:", width="stretch")

with results:
    alert, status = st.empty(), st.empty()
    frames = Frames()
    before_slot, after_slot = st.columns(2)
    before_slot, after_slot = before_slot.empty(), after_slot.empty()
    if go_clicked:
        run_attack(attack, frames, alert, status)
    saved = st.session_state.get("adv_result")
    if saved is None:
        show_not_attacked(attack, frames, before_slot, status)
    else:
        show_result(saved, attack, frames, before_slot, after_slot, status)
