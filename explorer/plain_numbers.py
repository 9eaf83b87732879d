"""Numbers in plain words, for a class: "1 in a million" instead of "1e-06", "8,900 times larger"
instead of "8.9e+03". Pages that show probabilities or ratios to people use these."""

from __future__ import annotations

import math

_WORDS = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))


def _two_digits(x: float) -> float:
    """``x`` rounded to two significant digits (1234 -> 1200, 0.0456 -> 0.046)."""
    if x == 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(abs(x))))
    return round(x, digits)


def plain_number(x: float) -> str:
    """A count or a size in words: 12 -> "12", 8_900 -> "8,900", 1_234_567 -> "1.2 million",
    1e6 -> "a million", 3e9 -> "3 billion", 0.25 -> "0.25", 2e-6 -> "1 part in 500,000". Two significant
    digits above 100."""
    if x is None or not math.isfinite(x):
        return "not a number" if x is None or math.isnan(x) else ("endless" if x > 0 else "minus endless")
    if x < 0:
        return "minus " + plain_number(-x)
    if 0 < x < 0.01:
        return f"1 part in {plain_number(1 / x)}"
    if x < 100:
        return f"{x:.2g}" if x < 1 else f"{x:.3g}" if x < 10 else f"{round(x):d}"
    x = _two_digits(x)
    if x >= 1e15:
        return f"a {int(math.log10(x)) + 1}-digit number"
    for scale, word in _WORDS:
        if x >= scale:
            v = x / scale
            return f"a {word}" if v == 1 else f"{v:g} {word}"
    return f"{int(x):,}"


def plain_probability(p: float) -> str:
    """A probability for people: 0.97 -> "97%", 0.042 -> "4.2%", 1e-6 -> "1 in a million",
    0.00083 -> "1 in 1,200", 0 -> "practically 0"."""
    if p is None or not math.isfinite(p):
        return "unknown"
    if p <= 0:
        return "practically 0"
    if p >= 0.995:
        return "practically 100%" if p < 1 else "100%"
    if p >= 0.1:
        return f"{p:.0%}"
    if p >= 0.01:
        return f"{p:.1%}"
    return f"1 in {plain_number(1 / p)}"


def plain_times(ratio: float) -> str:
    """How much bigger or smaller, in words: 8900 -> "8,900 times larger", 1.3e-8 -> "77 million
    times smaller", 1.02 -> "the same size", 0 -> "so small the computer stores it as 0"."""
    if ratio is None or not math.isfinite(ratio):
        return "unknown"
    if ratio <= 0:
        return "so small the computer stores it as 0"
    if 0.95 <= ratio <= 1.05:
        return "the same size"
    if ratio > 1:
        return f"{plain_number(ratio)} times larger"
    return f"{plain_number(1 / ratio)} times smaller"


def probability_ticks(lowest: float, most: int = 7) -> tuple[list[float], list[str]]:
    """Ticks for a log-scale probability axis from ``lowest`` up to 1: powers of ten labelled in plain
    words ("1 in a million", "1 in 1,000", "10%", "100%"), at most ``most`` of them (every second or
    third power when the range is wide; 100% is always one). Returns ``(values, labels)``."""
    lowest = lowest if lowest is not None and math.isfinite(lowest) and lowest > 0 else 1e-3
    decades = max(1, math.ceil(-math.log10(min(lowest, 0.1)) - 1e-9))
    stride = max(1, math.ceil((decades + 1) / most))
    values = [10.0 ** -k for k in range(0, decades + 1, stride)][::-1]
    labels = [f"{v:.0%}" if v >= 0.1 else f"1 in {plain_number(1 / v)}" for v in values]
    return values, labels


__all__ = ["plain_number", "plain_probability", "plain_times", "probability_ticks"]
