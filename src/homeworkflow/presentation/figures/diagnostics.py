"""Convergence figures: rank plots of a model's main parameters.

A rank plot shows, per chain, the histogram of the ranks of its draws among all chains' draws;
well-mixed chains give flat, overlapping histograms.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from homeworkflow.models.posterior.convergence import diagnose
from .style import FULL_WIDTH, new_figure, styled

MAX_PANELS = 12


def main_parameters(posterior: xr.Dataset, max_panels: int = MAX_PANELS) -> xr.Dataset:
    """The population-level parameters of a model, one (chain, draw) variable each, named as in
    summary.csv: the intercept, slope terms, every group SD and sigma. When they are more than
    `max_panels`, the slope terms with the highest bulk ESS are left out (the others are the
    ones worth a look); the model's order is kept."""
    head = {"Intercept": posterior["Intercept"]} if "Intercept" in posterior else {}
    tail = {}
    if "sd" in posterior:
        tail.update({str(t): posterior["sd"].sel(sd_term=t, drop=True) for t in posterior["sd_term"].values})
    if "sigma" in posterior:
        tail["sigma"] = posterior["sigma"]
    slopes = {}
    if "b" in posterior:
        room = max(max_panels - len(head) - len(tail), 0)
        ess = diagnose(posterior["b"].transpose("chain", "draw", "term").to_numpy()).ess_bulk
        for i in sorted(np.argsort(ess, kind="stable")[:room]):
            slopes[str(posterior["term"].values[i])] = posterior["b"].isel(term=i, drop=True)
    params = {**head, **slopes, **tail}
    return xr.Dataset(dict(list(params.items())[:max_panels]))


def _wrapped(name: str, width: int = 24) -> str:
    """Long term names over two lines, broken after ':' or before '['."""
    if len(name) <= width:
        return name
    for sep, keep in ((":", ":\n"), ("[", "\n[")):
        if sep in name:
            head, _, tail = name.partition(sep)
            return head + keep + tail
    return name


@styled
def rank_plot_figure(posterior: xr.Dataset, max_panels: int = MAX_PANELS) -> Figure:
    """Rank plots (arviz.plot_rank, bars) of `main_parameters`, four panels per row."""
    params = main_parameters(posterior, max_panels)
    names = list(params.data_vars)
    ncols = min(4, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = new_figure(FULL_WIDTH, 0.3 + 1.35 * nrows, nrows=nrows, ncols=ncols, squeeze=False)
    flat = axes.ravel()
    az.plot_rank(params, var_names=names, ax=flat[: len(names)], kind="bars")
    for ax, name in zip(flat, names):
        ax.set_title(_wrapped(name), fontsize=7, fontweight="normal")
        ax.set_xlabel("Rank (all chains)", fontsize=6)
        ax.set_ylabel("Chain", fontsize=6)
        ax.tick_params(labelsize=6)
    for ax in flat[len(names):]:
        ax.set_visible(False)
    return fig
