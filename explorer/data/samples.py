"""Sample photos shipped in ``assets/samples`` (see CREDITS.md there), so every page works offline."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"

SAMPLES = {
    "Cat (Chelsea)": "cat_chelsea.jpg",
    "Coffee cup": "coffee.jpg",
    "Astronaut": "astronaut.jpg",
    "Rocket launch": "rocket.jpg",
}


def sample_path(name: str) -> Path:
    """Path of a sample photo by its display name (see :data:`SAMPLES`)."""
    try:
        return SAMPLES_DIR / SAMPLES[name]
    except KeyError:
        raise ValueError(f"No sample named '{name}'. Samples: {', '.join(SAMPLES)}.") from None


def sample_image(name: str = "Cat (Chelsea)", size=None):
    from .images import load_image

    return load_image(sample_path(name), size=size)
