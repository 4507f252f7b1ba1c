"""The posterior's geometry, chosen from the data before compiling (`centring: auto`,
`mass_matrix: auto`): which group effects are centred, and nutpie's mass-matrix adaptation.

Centring, per group intercept. A level's effect is centred well when the level's own data pin it
down more tightly than the group SD does, and non-centred when they do not (Papaspiliopoulos,
Roberts and Sköld 2007). The measure is the reliability ratio of a one-way random-effects ANOVA
of the outcome (on the response scale, after least squares on the population-level design)
over the factor: kappa_j = N_j tau^2 / sigma_w^2, the between-level variance tau^2 against the
sampling variance of level j's mean. A factor is centred when the median level has kappa >= 1
(its mean is at least half signal) and at least two observations (one binary observation cannot
carry a level's effect). Slopes and correlated bars stay non-centred.

Mass matrix. nutpie's low-rank adaptation follows correlations a diagonal one cannot: between the
intercept and centred effects, or non-centred effects of data-rich groups and their SD. It pays
where some group is data-rich (min bulk ESS, diagonal -> low-rank, same centring: exam 495 ->
4638, epilepsy poisson 165 -> 2979, cbpp 1065 -> 2610), but costs more per gradient, the more so
the more parameters (guImmun, 1,774: 867 against 207 us; inhaler, 293: 443 against 131 us), and
gains nothing where every group is data-poor (non-centred effects then barely correlate:
guImmun 580 against 525, contraception non-centred 1626 against 1692). So: low-rank where a
group intercept is data-rich or there are no groups; diagonal otherwise, and with a correlated
bar (it mixed the LKJ correlation better: sleepstudy R-hat 1.022 low-rank, 1.005 diagonal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelSpecError
from ..spec.formula import Design, GroupEffect

MIN_RELIABILITY = 1.0  # median kappa from which a factor's intercepts are centred
MIN_LEVEL_SIZE = 2  # median observations per level from which centring is considered


@dataclass(frozen=True)
class Geometry:
    """Per group effect whether it is centred; the mass matrix; and why, per choice made."""

    centred: tuple[bool, ...]
    mass_matrix: str
    reasons: dict[str, str]


def choose_geometry(design: Design, centring: str | dict, mass_matrix: str, sampler: str = "nutpie") -> Geometry:
    """The geometry for `design`: `centring` ("auto", "centred", "non_centred", or a mapping of
    grouping factor -> one of them; unnamed factors auto) and `mass_matrix` ("auto", "low_rank",
    "diagonal"; nutpie's only, the other samplers adapt a diagonal one). An explicit choice is
    kept as given; an automatic one comes with its reason."""
    factors = {e.factor for e in design.group_effects}
    if isinstance(centring, dict) and set(centring) - factors:
        raise ModelSpecError(f"centring names {sorted(set(centring) - factors)}, which group no effect of the formula")
    in_blocks = {k for block in design.correlation_blocks for k in block.members}
    independent = [k for k, e in enumerate(design.group_effects) if k not in in_blocks and e.column is None]
    richness = {k: _data_rich(design, design.group_effects[k]) for k in independent}
    reasons: dict[str, str] = {}
    if mass_matrix == "auto":
        rich = sorted({design.group_effects[k].factor for k, (is_rich, _) in richness.items() if is_rich})
        mass_matrix, reasons["mass_matrix"] = _auto_mass_matrix(design, rich)
    low_rank = mass_matrix == "low_rank" and sampler == "nutpie"
    centred = []
    for k, effect in enumerate(design.group_effects):
        choice = centring.get(effect.factor, "auto") if isinstance(centring, dict) else centring
        if k not in richness:
            if choice == "centred":
                raise ModelSpecError(
                    f"centring: {effect.label} is a slope or part of a correlated bar; only independent "
                    "group intercepts can be centred"
                )
            centred.append(False)
            continue
        if choice == "auto":
            choice, reasons[f"centring {effect.factor}"] = _auto_centring(*richness[k], low_rank)
        centred.append(choice == "centred")
    return Geometry(tuple(centred), mass_matrix, reasons)


def _auto_centring(rich: bool, facts: str, low_rank: bool) -> tuple[str, str]:
    if not rich:
        return "non_centred", f"non-centred ({facts}: its levels' data are weak against the group SD)"
    if not low_rank:
        return "non_centred", (
            f"non-centred ({facts}; centring pays only with nutpie's low-rank mass matrix, which "
            "follows the centred effects' correlation with the intercept)"
        )
    return "centred", f"centred ({facts}: its levels' data outweigh the group SD)"


def level_reliability(design: Design, effect: GroupEffect) -> np.ndarray:
    """kappa_j = N_j tau^2 / sigma_w^2 per level of `effect`'s factor: one-way random-effects ANOVA
    (method of moments) of the outcome after least squares on the population-level design.
    Binomial outcomes count each trial as an observation. Zero where tau^2 is not identified."""
    trials = design.trials if design.trials is not None else np.ones(design.n)
    value = design.y / trials
    X = np.column_stack([np.ones(design.n), design.X]) if design.X.size else np.ones((design.n, 1))
    root = np.sqrt(trials)
    coef, *_ = np.linalg.lstsq(X * root[:, None], value * root, rcond=None)
    residual = value - X @ coef
    n_levels = len(effect.levels)
    size = np.bincount(effect.index, weights=trials, minlength=n_levels)
    mean = np.bincount(effect.index, weights=trials * residual, minlength=n_levels) / np.maximum(size, 1)
    within = np.sum(trials * (residual - mean[effect.index]) ** 2)
    if design.trials is not None:  # the binomial variance inside each observation's trials
        within += np.sum(trials * value * (1 - value))
    observed = size > 0
    total, levels = size.sum(), int(observed.sum())
    if total <= levels or levels < 2:
        return np.zeros(n_levels)
    ms_within = within / (total - levels)
    grand = np.sum(size * mean) / total
    ms_between = np.sum(size * (mean - grand) ** 2) / (levels - 1)
    n0 = (total - np.sum(size**2) / total) / (levels - 1)
    tau2 = max(0.0, (ms_between - ms_within) / n0)
    return size * tau2 / ms_within if ms_within > 0 else np.full(n_levels, np.inf)


def _data_rich(design: Design, effect: GroupEffect) -> tuple[bool, str]:
    """Whether the factor's median level is data-rich (kappa >= MIN_RELIABILITY and at least
    MIN_LEVEL_SIZE observations), and the facts behind it."""
    kappa = level_reliability(design, effect)
    size = np.bincount(effect.index, minlength=len(effect.levels))
    median_kappa, median_size = float(np.median(kappa)), float(np.median(size))
    facts = f"median level: {median_size:g} observations, reliability ratio {median_kappa:.2f}"
    return median_kappa >= MIN_RELIABILITY and median_size >= MIN_LEVEL_SIZE, facts


def _auto_mass_matrix(design: Design, data_rich: list[str]) -> tuple[str, str]:
    if design.correlation_blocks:
        factors = ", ".join(sorted({block.factor for block in design.correlation_blocks}))
        return "diagonal", f"correlated group effects over {factors}: the diagonal adaptation mixes their correlation better"
    if data_rich:
        return "low_rank", (
            f"data-rich groups ({', '.join(data_rich)}): their effects correlate with the intercept "
            "(centred) or with their SD (non-centred), which the low-rank adaptation follows"
        )
    if not design.group_effects:
        return "low_rank", "no group effects: the low-rank adaptation follows the coefficients' correlations"
    return "diagonal", (
        "no data-rich groups: their non-centred effects are nearly independent a posteriori, and a "
        "low-rank step costs more than it gains"
    )
