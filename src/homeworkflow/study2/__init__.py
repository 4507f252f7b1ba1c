"""Study 2 (Spinrad et al. 2024): replication of the published descriptives and GEE, band-wise
slopes of review percentage, and a Bayesian model that corrects for detector error.

    descriptive_replication(sessions)                       # ours beside the published figures
    fit_gee(intervals)                                      # the published analysis (naive)
    severity_slopes(draws, bands, centre)                   # slope per severity band, posterior
    gee_severity_slopes(result, bands, centre)              # the same from the GEE (delta method)
    fit_measurement_error_model(intervals, sessions, ...)   # true review % latent
    naive_vs_corrected(naive, corrected, truth)             # side by side, with the truth if known

Methods: docs/study2.md.
"""

from .descriptives import PUBLISHED, descriptive_replication
from .gee import GEE_METHOD, fit_gee, gee_result, gee_table
from .measurement_error import (
    ME_METHOD,
    detector_rates_from_validation,
    false_positive_rate,
    fit_measurement_error_model,
)
from .slopes import BAND_BASELINES, gee_severity_slopes, naive_vs_corrected, severity_slopes

__all__ = [
    "BAND_BASELINES",
    "GEE_METHOD",
    "ME_METHOD",
    "PUBLISHED",
    "descriptive_replication",
    "detector_rates_from_validation",
    "false_positive_rate",
    "fit_gee",
    "fit_measurement_error_model",
    "gee_result",
    "gee_severity_slopes",
    "gee_table",
    "naive_vs_corrected",
    "severity_slopes",
]
