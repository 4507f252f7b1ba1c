"""What a model is: its config (ModelSpec), formula and priors; no PyMC."""
