"""How a model is sampled: the PyMC builder, samplers, nutpie callbacks, fused kernels, compile cache."""
