"""The networks: the model zoo and its paper-named builders, weights, users' own models, and the one idea
of a classifier (input size, classes, the one ``predict`` geometry). Never imports :mod:`explorer.serving`."""
