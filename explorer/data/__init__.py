"""Pictures and classes: hardened image loading, datasets, the sample photos, ImageNet's class index."""
