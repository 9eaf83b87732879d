"""Sections of the Adversarial example page below the live attack (issue 10): where the network looks
before and after (Grad-CAM), every network's verdict on the attacked photo (the ensemble lesson) and the
epsilon sweep (computed once for the class through ``explorer.shared_attacks.sweep``). Each takes the
page's saved result and draws one section; probabilities in plain words.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.attacks import ensemble, single as attacks, shared as shared_attacks, verdicts
from explorer.models import classifier, zoo
from explorer.inspect import gradcam
from explorer.plain_numbers import plain_probability
from ui import present
from ui.models import cached_model, second_opinion, title_of, top5
from ui.runs import watch

SWEEP_EPSILONS = (0, 1, 2, 3, 4, 6, 8)  # pixel levels tried by the sweep button
# Heat colours from cold to hot (dark blue, cyan, yellow, red): Grad-CAM's usual look.
_HEAT = np.array([[0, 0, 90], [0, 170, 230], [255, 230, 0], [220, 20, 0]], np.float32)


def judges() -> list[str]:
    """Keys of the zoo networks whose ImageNet weights are on this computer (the ones that can judge)."""
    return [k for k, v in zoo.VARIANTS.items() if v.weights_available(True)]


def load_judge(key: str):
    """A zoo network with its ImageNet weights, shared through ``cached_model`` (never mutated)."""
    spec = zoo.VARIANTS[key]
    return cached_model(spec.model, "imagenet", **spec.kwargs(True))


# "Make it transfer" (explorer.adversarial(..., transfer=True)): it runs on until every attacked network is this sure
TRANSFER_SURE = float(ensemble.TRANSFER["confidence"])
TRANSFER_STEP = float(ensemble.TRANSFER["step"])  # its steps, as a share of the budget


def transfer_toggle(method: str) -> bool:
    """The ensemble section's "Make it transfer" switch, with what it does in plain words."""
    on = st.toggle("Make it transfer", key="adv_transfer", disabled=method != "pgd",
                   help="For networks the attack never saw: momentum + input diversity (MI-FGSM and DI-FGSM). "
                        "Only PGD can (its many small steps).")
    if method != "pgd":
        st.caption("Make it transfer needs PGD.")
    elif on:
        st.caption("It keeps pushing past 90% sure, and on about half the steps it shows each network the photo "
                   "a little smaller at a random place, so the change cannot rely on one network's quirks.")
    return on


def transfer_words(result) -> str:
    """What the transfer mode ran, e.g. 'momentum + input diversity, 40 steps, ε 8'."""
    return f"momentum + input diversity, {result.steps} steps, ε {result.epsilon}"


def percent(p: float) -> str:
    """A goal as a percentage with the digits it needs: 0.9 -> '90%', 0.9999 -> '99.99%' (never '100%')."""
    for digits in range(5):
        if round(p * 100, digits) == round(p * 100, 6):
            return f"{p:.{digits}%}"
    return f"{p:.4%}"


def sure_words(confidence: float, target_name: str) -> str:
    """What the attack waits for, in words."""
    if confidence <= 0:
        return f"until '{target_name}' is its first choice"
    return f"until it is {percent(confidence)} sure it sees '{target_name}'"


# --- Grad-CAM before and after -------------------------------------------------------------------------------

def heat_overlay(photo: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The photo with a heat map laid over it: cold places keep the photo, hot places turn yellow-red."""
    cam = np.clip(np.nan_to_num(np.asarray(cam, np.float32)), 0.0, 1.0)
    position = cam * (len(_HEAT) - 1)
    low = np.minimum(position.astype(int), len(_HEAT) - 2)
    frac = (position - low)[..., None]
    colour = _HEAT[low] * (1 - frac) + _HEAT[low + 1] * frac
    weight = (0.25 + 0.5 * cam)[..., None]
    return np.clip(photo.astype(np.float32) * (1 - weight) + colour * weight, 0, 255).astype(np.uint8)


def gradcam_pair(saved: dict) -> None:
    """'The photo did not change, the heat map did': Grad-CAM of the top class before and after."""
    result, model, names = saved["result"], saved["network"], saved["names"]
    st.subheader("Where does the network look?")
    if "cams" not in saved:
        try:
            saved["cams"] = [gradcam.grad_cam_details(model, photo)[::2] for photo in (result.original, result.image)]
        except ValueError as exc:
            saved["cams"] = str(exc)
    if isinstance(saved["cams"], str):
        st.info(f"No heat map for this network: {saved['cams']}")
        return
    columns = st.columns(2)
    for column, photo, probs, (cam, cls), when in zip(columns, (result.original, result.image),
                                                      (result.probs_before, result.probs_after), saved["cams"],
                                                      ("Before", "After")):
        column.image(heat_overlay(photo, cam), width=present.px(440),
                     caption=f"{when}: where {saved['model']} finds '{names[cls]}' "
                             f"({plain_probability(float(probs[cls]))}, its top class)")
    st.markdown(f"**The photo did not change** (no pixel moved by more than {result.linf:.0f} of 255 levels), "
                "**the heat map did**: Grad-CAM colours the places whose features speak for the class "
                "(red: most). The attack did not paint a cat; it changed what the network's last features add up to.")


# --- every network judges the attacked photo --------------------------------------------------------------

def judge_all(saved: dict) -> list[dict]:
    """Every zoo network with weights judges the original and the adversarial photo (target matched by name)."""
    result, names = saved["result"], saved["names"]
    target_name = names[result.target]
    rows = []
    for key in judges():
        check = verdicts.check_transfer(load_judge(key), result.original, result.image, target_name)
        rows.append({"network": zoo.VARIANTS[key].title, "attacked": key in saved["attacked_keys"],
                     "fooled": check.fooled, "before": check.probability_before,
                     "after": check.probability_after, "top": check.top_after[1]})
    return rows


def verdict_table(saved: dict) -> None:
    """The ensemble lesson: which networks does the attacked photo fool, the attacked ones and the others?"""
    result, names = saved["result"], saved["names"]
    target_name = names[result.target]
    st.subheader("Does it fool the other networks?")
    attacked = ", ".join(saved["attacked"])
    st.markdown(f"The photo was attacked against **{attacked}**. Ask every network on this computer whether it "
                f"now sees '{target_name}'. Attacks made for one network rarely fool another; attacking "
                "several at once (an *ensemble*: more networks under *Method, steps, ensemble*) fools the "
                "others more often." + (" This one was made to transfer, so every network judges it at once."
                                        if result.transfer else ""))
    if len(saved["names"]) != 1000:
        st.info(f"Only ImageNet networks can judge here, and they do not know '{target_name}'.")
        return
    # made to transfer: the networks it never saw are the point, so they judge at once
    if st.button("Ask every network", icon=":material/groups:", key="adv_judge") or (
            result.transfer and "judges" not in saved):
        with st.spinner("Every network looks at both photos..."):
            saved["judges"] = judge_all(saved)
    rows = saved.get("judges")
    if rows is None:
        st.caption(f"{len(judges())} networks have their weights here.")
        return
    st.table(pd.DataFrame({  # a plain table: readable from the back row in presentation mode
        "verdict": ["fooled" if r["fooled"] else "not fooled" for r in rows],
        f"p('{target_name}') before": [plain_probability(r["before"]) for r in rows],
        f"p('{target_name}') after": [plain_probability(r["after"]) for r in rows],
        "it now sees": [r["top"] for r in rows],
    }, index=pd.Index([r["network"] + (" (attacked)" if r["attacked"] else "") for r in rows], name="network")))
    others = [r for r in rows if not r["attacked"]]
    fooled = sum(r["fooled"] for r in others)
    attacked = len(rows) - len(others)
    fooled_attacked = sum(r["fooled"] for r in rows if r["attacked"])
    if others:
        st.caption(f"Fooled {fooled} of the {len(others)} network(s) the attack never saw, and "
                   f"{fooled_attacked} of the {attacked} it attacked (fooled: '{target_name}' is its top class).")
    else:  # every network here was in the ensemble: none is left to test transfer on (never "0 of the 0")
        st.caption(f"Every network with weights here was attacked, so none is left that the attack never saw. "
                   f"Fooled {fooled_attacked} of the {attacked} attacked (fooled: '{target_name}' is its top class).")
    with st.expander("One network closer (your own models too)"):
        label, model, check = second_opinion("Network", "adv_model2", "mobilenet_0.75", result.original,
                                             result.image, target_name)
        if check is not None:
            top5(model, verdicts.shared_predict(model, result.image), target=check.target,
                 title=f"{label} sees the adversarial photo as")


# --- the epsilon sweep -----------------------------------------------------------------------------------

def sweep_figure(points, target_name: str, confidence: float) -> go.Figure:
    """Budget (pixel levels) against p(target): filled green where the attack succeeded."""
    eps = [p.epsilon for p in points]
    probs = [p.probability for p in points]
    fig = go.Figure(go.Scatter(
        x=eps, y=probs, mode="lines+markers", line={"color": "#888"},
        marker={"size": 14, "color": ["#2ca02c" if p.success else "white" for p in points],
                "line": {"width": 2, "color": ["#2ca02c" if p.success else "#d62728" for p in points]}},
        text=[("fooled" if p.success else "not fooled") + f": {plain_probability(p.probability)}" for p in points],
        hovertemplate="ε = %{x} levels<br>%{text}<extra></extra>"))
    if confidence > 0:
        fig.add_hline(y=confidence, line_dash="dash", line_color="#2ca02c")
    fig.update_layout(height=280, margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False,
                      title=f"p('{target_name}') after the attack, per budget (green: fooled"
                            + (f"; dashed: the goal, {percent(confidence)})" if confidence > 0 else ")"),
                      xaxis={"title": "budget ε (pixel levels of 255)", "tickvals": eps},
                      yaxis={"title": f"p('{target_name}')", "range": [-0.03, 1.05],
                             "tickvals": [0, 0.25, 0.5, 0.75, 1],
                             "ticktext": ["0%", "25%", "50%", "75%", "100%"]})
    return fig


def epsilon_sweep(attack, models, signature: tuple) -> None:
    """A button that attacks the current photo once per budget and draws the curve (kept per settings)."""
    st.subheader("How big must the change be?")
    plain = "plain, not made to transfer: " if attack.transfer else ""
    st.markdown(f"Run the attack ({plain}{attacks.METHODS[attack.method].split(':')[0]}, up to {attack.planned} "
                f"step(s), {sure_words(attack.confidence, attack.target_name)}) once for each budget ε, "
                "on this photo.")
    clicked = st.button("Sweep the budget", icon=":material/stacked_line_chart:", key="adv_sweep_go")
    alert, progress_slot = st.empty(), st.empty()
    if clicked:
        _run_sweep(attack, models, signature, alert, progress_slot)
    saved = st.session_state.get("adv_sweep")
    if saved is None:
        return
    points = saved["points"]
    present.plotly_chart(sweep_figure(points, saved["target"], saved["confidence"]), key="adv_sweep_chart",
                         config={"displayModeBar": False})
    first = next((p.epsilon for p in points if p.success), None)
    st.caption(("Not fooled at any budget tried." if first is None else
                f"Fooled from ε = {first} level(s) of 255 ({sum(p.success for p in points)} of {len(points)} "
                "budgets).") + (" Settings changed since this sweep." if saved["signature"] != signature else "")
               + (f" {saved['shared']}" if saved.get("shared") else ""))


def _run_sweep(attack, models, signature: tuple, alert, progress_slot) -> None:
    """One attack per budget, computed once for the class (joined or replayed when someone asked the
    same); the points are kept in the session, with those done so far when the run was stopped."""
    total = len(SWEEP_EPSILONS)

    def draw(snap):
        points = shared_attacks.sweep_points(snap)
        if not points:
            progress_slot.progress(0.0, text="Waiting for the first budget...")
            return
        point = points[-1]
        progress_slot.progress(len(points) / total,
                               text=f"ε = {point.epsilon} level(s): {'fooled' if point.success else 'not fooled'}, "
                                    f"p('{attack.target_name}') {plain_probability(point.probability)} "
                                    f"({len(points)} of {total} budgets)")

    progress_slot.progress(0.0, text="Waiting for the first budget...")
    try:
        subscription = shared_attacks.sweep(models if len(models) > 1 else models[0], attack.photo, attack.target,
                                            SWEEP_EPSILONS, steps=attack.steps, method=attack.method,
                                            step_size=attack.step_size, confidence=attack.confidence)
    except (ValueError, RuntimeError) as exc:
        alert.error(f"The sweep could not run: {exc}", icon=":material/error:")
        progress_slot.empty()
        return
    [done] = watch(subscription, draw, key="adv_sweep_outcome", place=alert)
    points = list(done.result) if done.result is not None else shared_attacks.sweep_points(done)
    if done.stopped:
        alert.info(f"{done.error} ({len(points)} budget(s) done)")
    elif done.error is not None:
        alert.error(f"The sweep could not run: {done.error}", icon=":material/error:")
    progress_slot.empty()
    if points:
        st.session_state["adv_sweep"] = {"signature": signature, "points": points, "target": attack.target_name,
                                         "confidence": attack.confidence, "shared": done.note}


def attacked_titles(choice: str, also: list[str]) -> list[str]:
    return [title_of(choice)] + [zoo.VARIANTS[k].title for k in also]
