"""Detector accuracy with transcript-level (cluster) bootstrap intervals (the AnnoMI benchmark is
`crossval`: out-of-fold predictions over all transcripts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("precision", "recall", "f1")


def evaluate_detector(y_true, y_pred, groups, n_boot: int = 1000, seed: int = 0) -> dict:
    """Precision, recall and F1 with 95% percentile intervals from resampling whole groups.

    Groups (transcripts) are drawn with replacement, so utterances of one transcript stay
    together. Returns the point estimates, `<metric>_low` / `<metric>_high`, `n_positive` (true
    positives in the data), `n_evaluated` and `n_groups`. A metric that is undefined (no predicted
    or no true positives) is NaN.
    """
    y_true, y_pred = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    codes, groups = pd.factorize(pd.Series(np.asarray(groups)).astype(str))
    n_groups = len(groups)
    counts = np.stack(
        [
            np.bincount(codes, weights=w, minlength=n_groups)
            for w in (y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred)
        ]
    )  # (tp, fp, fn) x groups
    draws = np.random.default_rng(seed).multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_boot)
    point = _metrics(*counts.sum(axis=1))
    boot = _metrics(*(draws @ counts.T).T)
    out = {}
    for name in METRICS:
        low, high = np.nanpercentile(boot[name], [2.5, 97.5]) if np.isfinite(boot[name]).any() else (np.nan, np.nan)
        out |= {name: float(point[name]), f"{name}_low": float(low), f"{name}_high": float(high)}
    return out | {"n_positive": int(y_true.sum()), "n_evaluated": len(y_true), "n_groups": n_groups}


def _metrics(tp, fp, fn) -> dict:
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return {"precision": precision, "recall": recall, "f1": f1}
