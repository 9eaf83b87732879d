"""Looking inside a network: feature maps, Grad-CAM, receptive fields, convolution by hand, the layer
graph and its drawing. Never imports :mod:`explorer.serving`."""
