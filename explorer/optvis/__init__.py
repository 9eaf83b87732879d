"""Feature visualisation in small composable pieces (after Lucid): paint what a network thinks a class is.

- :mod:`.objectives`: losses that add and scale like numbers (class CE, total variation, L2, ...)
- :mod:`.param`: image parameterisations (plain pixels, decorrelated-colour Fourier space)
- :mod:`.transform`: random jitter, scale and rotation (transformation robustness)
- :mod:`.render`: the compiled step and :class:`PaintRun`; :mod:`.ideal`: :func:`ideal_image`;
  :mod:`.diverse`: several images pushed apart; :mod:`.batching`: ideal images through the shared scheduler
- :mod:`.export`: PNG and animated GIF
"""

from .export import gif_bytes, png_bytes
from .objectives import (
    Context,
    Objective,
    channel,
    class_ce,
    class_probability,
    diversity,
    l2,
    lesson_objective,
    neuron,
    total_variation,
)
from .ideal import ideal_image
from .param import Fourier, Pixels, parameterisation
from .render import (
    DEFAULTS,
    MAX_STEPS,
    PRESETS,
    Hyper,
    IdealImage,
    PaintRun,
    StepOutput,
    StepState,
    compiled_step,
    input_scale,
    lesson_learning_rate,
    lesson_options,
    options_for,
    predict,
    step_runs,
)

__all__ = [
    "Context", "DEFAULTS", "Fourier", "Hyper", "IdealImage", "MAX_STEPS", "Objective", "PRESETS", "PaintRun",
    "Pixels", "StepOutput", "StepState", "channel", "class_ce", "class_probability", "compiled_step", "diversity",
    "gif_bytes", "ideal_image", "input_scale", "l2", "lesson_learning_rate", "lesson_options", "lesson_objective", "neuron", "options_for",
    "parameterisation", "png_bytes", "predict", "step_runs", "total_variation",
]
