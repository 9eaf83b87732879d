"""Explanations of one prediction, side by side (issue 24): which pixels does the network use for a class,
and which explanation can we trust?

- :func:`attribution` / :func:`explain`: one call shape for every method (``methods``: Grad-CAM,
  Grad-CAM++, integrated gradients, SmoothGrad, occlusion), maps in 0..1 at the photo's size;
- :func:`deletion_curve` (``deletion``): grey pixels in a map's order and watch p(class) fall, against
  random orders;
- :func:`sanity_check` (``sanity``): randomise the network from the top, block by block, and measure how
  much each map changes (Adebayo et al., 2018).

The package is ``explain`` (not ``attribution``) so that ``explorer.attribution`` stays the function.
"""

from .base import Attribution
from .deletion import DeletionCurve, deletion_curve
from .methods import METHODS, TITLES, attribution, explain, options_of
from .sanity import SanityCheck, SanityStep, sanity_check

__all__ = ["METHODS", "TITLES", "Attribution", "DeletionCurve", "SanityCheck", "SanityStep", "attribution",
           "deletion_curve", "explain", "options_of", "sanity_check"]
