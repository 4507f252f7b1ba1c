"""Seeded simulators for both studies: tables that satisfy `homeworkflow.data.contract`, plus the truth.

    tables, truth = simulate_study1(params, seed)   # therapists, clients, sessions
    tables, truth = simulate_study2(params, seed)   # therapists, clients, sessions, assessments

`params` is a partial, nested dict overriding `STUDY1_DEFAULTS` / `STUDY2_DEFAULTS`; `truth` is a
JSON-able dict of every true parameter used. Each study module's docstring and defaults spell out
its generative model; config/README.md ("Simulators") shows the parameters. `common` holds the
machinery both share.
"""

from .study1 import STUDY1_DEFAULTS, simulate_study1
from .study2 import STUDY2_DEFAULTS, simulate_study2

__all__ = ["STUDY1_DEFAULTS", "STUDY2_DEFAULTS", "simulate_study1", "simulate_study2"]
