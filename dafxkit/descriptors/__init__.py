"""Built-in feature extractors (descriptors), registered through the dafxkit.features group."""
