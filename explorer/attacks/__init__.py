"""Adversarial examples: one network (:mod:`.single`), ensembles and epsilon sweeps (:mod:`.ensemble`),
and the versions computed once for the whole class (:mod:`.shared`)."""
