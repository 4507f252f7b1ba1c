"""homeworkflow: simulation, validation, features and Bayesian multilevel models for
psychotherapy process research on therapeutic homework (Corona et al.; Spinrad et al. 2024)."""

__version__ = "0.1.0"
