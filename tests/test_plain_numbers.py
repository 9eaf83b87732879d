"""Plain-words numbers: what a class reads instead of 1e-06 or 8.9e+03."""

import math

import pytest

from explorer.plain_numbers import plain_number, plain_probability, plain_times


@pytest.mark.parametrize("p, text", [
    (1e-6, "1 in a million"), (1.2e-6, "1 in 830,000"), (0.00083, "1 in 1,200"), (0.001, "1 in 1,000"),
    (1 / 3_400_000, "1 in 3.4 million"), (0.042, "4.2%"), (0.1155, "12%"), (0.97, "97%"),
    (0.999, "practically 100%"), (1.0, "100%"), (0.0, "practically 0"), (float("nan"), "unknown"),
])
def test_plain_probability(p, text):
    assert plain_probability(p) == text


@pytest.mark.parametrize("x, text", [
    (12, "12"), (3.14159, "3.14"), (0.25, "0.25"), (8_900, "8,900"), (8_949, "8,900"), (1e6, "a million"),
    (1_234_567, "1.2 million"), (3e9, "3 billion"), (2.5e12, "2.5 trillion"), (7.7e16, "a 17-digit number"),
    (-1500, "minus 1,500"), (math.inf, "endless"), (2e-6, "1 part in 500,000"),
])
def test_plain_number(x, text):
    assert plain_number(x) == text


@pytest.mark.parametrize("ratio, text", [
    (8_900, "8,900 times larger"), (1 / 77_000_000, "77 million times smaller"), (1.02, "the same size"),
    (0.5, "2 times smaller"), (0.0, "so small the computer stores it as 0"),
])
def test_plain_times(ratio, text):
    assert plain_times(ratio) == text


def test_no_scientific_notation_anywhere():
    for exponent in range(-15, 16):
        for text in (plain_number(10.0 ** exponent), plain_probability(min(1.0, 10.0 ** exponent)),
                     plain_times(10.0 ** exponent)):
            assert "e-" not in text and "e+" not in text and "µ" not in text, text
