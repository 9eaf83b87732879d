"""A recipe in words: what an ideal-image run with these options actually does.

Captions and preset help are written from the option values (never by hand), so a text can only
credit a regulariser that runs: a total-variation weight of 0 is said to be off.
"""

from __future__ import annotations

PARAM_WORDS = {"pixels": "plain pixels", "fourier": "a Fourier parameterisation with decorrelated colour"}
OPTIMIZER_WORDS = {"sgd": "plain gradient steps", "adam": "Adam"}


def number(x: float) -> str:
    """A setting as a person writes it: 16256.25 whole (the lesson's step on MobileNet), 3.9e-05 short."""
    x = float(x)
    return f"{x:.2g}" if 0 < abs(x) < 1e-3 else f"{x:.7g}"


def loss_text(options: dict) -> str:
    """The loss that runs, e.g. "10·CE + 0.005·TV" (CE = -log p(class), TV = total variation)."""
    terms = []
    for key, name in (("ce_weight", "CE"), ("tv_weight", "TV"), ("l2_weight", "L2")):
        weight = float(options.get(key, 0.0))
        if weight > 0:
            terms.append(name if weight == 1 else f"{number(weight)}·{name}")
    if float(options.get("diversity", 0.0)) > 0 and int(options.get("images", 1)) > 1:
        terms.append(f"{number(options['diversity'])}·similarity to the other images")
    return " + ".join(terms) or "nothing"


def robustness_text(options: dict) -> str:
    """The random transformations each step judges, or that there are none."""
    moves = []
    if float(options.get("jitter", 0)) > 0:
        moves.append(f"shifted up to {number(options['jitter'])} px")
    if float(options.get("scale", 0)) > 0:
        moves.append(f"zoomed ±{round(float(options['scale']) * 100):d}%")
    if float(options.get("rotation", 0)) > 0:
        moves.append(f"rotated ±{number(options['rotation'])}°")
    if not moves:
        return "no random transformations"
    views = int(options.get("views", 1))
    copies = "1 random copy" if views == 1 else f"{views} random copies"
    return f"the network judges {copies} per step, " + ", ".join(moves)


def describe(options: dict, steps: int | None = None) -> str:
    """One sentence saying exactly what runs: parameterisation, optimiser and learning rate, the loss
    with its weights (terms with weight 0 are named as off), the random transformations, the steps."""
    opt = OPTIMIZER_WORDS.get(options.get("optimizer"), str(options.get("optimizer")))
    param = PARAM_WORDS.get(options.get("param"), str(options.get("param")))
    off = [name for key, name in (("tv_weight", "total-variation penalty"), ("l2_weight", "L2 penalty"))
           if float(options.get(key, 0.0)) <= 0]
    text = (f"{opt} (learning rate {number(options.get('learning_rate', 0))}) on {param}; "
            f"loss = {loss_text(options)}")
    if off:
        text += f" (no {' and no '.join(off)})"
    text += f"; {robustness_text(options)}"
    if steps is not None:
        text += f"; {int(steps)} steps"
    return text + "."
