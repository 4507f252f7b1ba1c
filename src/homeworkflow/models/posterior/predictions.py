"""Predictions on new rows: the posterior of the expected outcome on the data scale over a grid of
predictor values (brms's `posterior_epred` and `conditional_effects`).

A grid is named values per predictor (crossed; every other predictor at its mean, or its reference
level if categorical) or a table of new rows. Group effects: `none` (population level, brms's
`re_formula = NA`), `fitted` (each row's own level, which must have been fitted) or `new` (a new
level drawn from the population at every draw, brms's `sample_new_levels = "gaussian"`).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ModelSpecError
from ..spec.families import get_family, split_trials
from ..spec.formula import Design, build_design, describe, is_categorical

GROUP_CHOICES = ("none", "fitted", "new")
SAMPLE_DIMS = ("chain", "draw")


@dataclass(frozen=True)
class Grid:
    """One named prediction grid of a model: `values` (predictor -> list) or `rows` (a table)."""

    name: str
    values: dict[str, list] = field(default_factory=dict)
    rows: pd.DataFrame | None = None
    groups: str = "none"

    @classmethod
    def from_config(cls, model: str, name: str, cfg: dict, rows: pd.DataFrame | None = None) -> Grid:
        """`cfg`: {values: {column: [..]}} or {file: path} (its table passed as `rows`), and groups."""
        where = f"model '{model}': predictions.{name}"
        if not isinstance(cfg, dict) or ("values" in cfg) == ("file" in cfg):
            raise ModelSpecError(f"{where}: give either 'values' (a mapping of column to values) or 'file'")
        unknown = sorted(set(cfg) - {"values", "file", "groups"})
        if unknown:
            raise ModelSpecError(f"{where}: unknown key(s) {unknown}; known: file, groups, values")
        groups = cfg.get("groups", "none")
        if groups not in GROUP_CHOICES:
            raise ModelSpecError(f"{where}: groups must be one of {GROUP_CHOICES}, got {groups!r}")
        values = cfg.get("values", {})
        if "values" in cfg:
            if not isinstance(values, dict) or not values:
                raise ModelSpecError(f"{where}: 'values' must map at least one column to its values")
            values = {c: v if isinstance(v, list) else [v] for c, v in values.items()}
            empty = [c for c, v in values.items() if not v]
            if empty:
                raise ModelSpecError(f"{where}: no values given for {empty}")
        elif rows is None or rows.empty:
            raise ModelSpecError(f"{where}: the file {cfg['file']} has no rows")
        return cls(name=name, values=values, rows=rows, groups=groups)

    @property
    def where(self) -> str:
        return f"predictions.{self.name}"


def predictors(formula: str) -> tuple[str, str | None, list[str], list[str]]:
    """(outcome, trials column, population-level predictors, grouping columns) of a formula."""
    formula, trials = split_trials(formula)
    description = describe(formula)
    outcome = description.response.term.name
    fixed = sorted({v for t in description.common_terms for v in t.var_names if v})
    grouping = sorted({c.name for t in description.group_terms for c in t.factor.components})
    slopes = sorted({v for t in description.group_terms for v in t.expr.var_names if v} - set(fixed))
    return outcome, trials, sorted(set(fixed) | set(slopes)), grouping


def grid_rows(grid: Grid, data: pd.DataFrame, formula: str, reference_levels: dict) -> pd.DataFrame:
    """The grid's new rows with every column the formula uses: the grid's own values, every
    other predictor at its mean or reference level. Categorical values must be levels seen in
    `data`; `fitted` group effects need the grouping columns, with fitted levels."""
    outcome, trials, fixed, grouping = predictors(formula)
    if grid.rows is not None:
        given = grid.rows
        unknown = [c for c in given.columns if c not in fixed + grouping + ([trials] if trials else [])]
        if len(unknown) == len(given.columns):
            raise ModelSpecError(
                f"{grid.where}: the file has none of the model's predictors ({', '.join(fixed + grouping)})"
            )
        given = given.drop(columns=unknown).reset_index(drop=True)
    else:
        unknown = [c for c in grid.values if c not in fixed + grouping + ([trials] if trials else [])]
        if unknown:
            raise ModelSpecError(
                f"{grid.where}: column(s) {unknown} are not predictors of the model "
                f"(predictors: {', '.join(fixed + grouping)})"
            )
        given = pd.DataFrame(list(itertools.product(*grid.values.values())), columns=list(grid.values))
    rows = given.copy()
    for column in fixed:
        if column not in rows:
            rows[column] = typical_value(data[column], reference_levels.get(column))
    if grid.groups == "fitted":
        missing = [g for g in grouping if g not in rows]
        if missing:
            raise ModelSpecError(f"{grid.where}: groups 'fitted' needs the grouping column(s) {missing}")
    for column in grouping:
        if column not in rows:
            rows[column] = data[column].iloc[0]  # a placeholder: its effect is not used
    for column in [c for c in fixed + grouping if pd.api.types.is_bool_dtype(data[c])]:
        rows[column] = as_bool(rows[column], f"{grid.where}: column '{column}'")
    for column in [c for c in fixed + grouping if is_categorical(data[c])]:
        seen = set(data[column].astype(str))
        new = sorted(set(rows[column].astype(str)) - seen)
        if new and (column in fixed or grid.groups == "fitted"):
            raise ModelSpecError(
                f"{grid.where}: column '{column}' has value(s) {new} not in the data "
                + ("(use groups: new for a new group)" if column in grouping else f"(levels: {sorted(seen)})")
            )
    # Placeholders the design needs: the outcome is not predicted from itself.
    rows[outcome] = 0 if trials else data[outcome].iloc[0]
    if trials and trials not in rows:
        rows[trials] = 1  # expected successes per trial: the expected proportion
    return rows[given.columns.tolist() + [c for c in rows.columns if c not in given.columns]]


def as_bool(values: pd.Series, where: str) -> pd.Series:
    """True/False from booleans, 0/1 or yes/no (any case); other values are an error."""
    words = values.astype(str).str.lower().str.strip()
    known = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    unknown = sorted(set(words) - set(known))
    if unknown:
        raise ModelSpecError(f"{where} is true/false in the data; got {unknown}")
    return words.map(known).astype(bool)


def typical_value(column: pd.Series, reference=None):
    """A numeric predictor's mean; a categorical one's reference level (default: first sorted)."""
    if not is_categorical(column):
        return float(column.mean())
    return reference if reference is not None else sorted(column.astype(str).unique())[0]


def new_row_design(data: pd.DataFrame, rows: pd.DataFrame, spec) -> tuple[Design, Design]:
    """Designs of the data and of data + new rows (same encoding): the new rows are the last."""
    fitted = build_design(data, spec.formula, spec.family, spec.reference_levels, spec.outcome_levels)
    combined = pd.concat([data[rows.columns], rows], ignore_index=True)
    with warnings.catch_warnings():  # separation warnings were given when the model was fitted
        warnings.simplefilter("ignore")
        design = build_design(combined, spec.formula, spec.family, spec.reference_levels, spec.outcome_levels)
    raw_fitted = fitted.X * fitted.scale + fitted.center
    raw_combined = design.X[: data.shape[0]] * design.scale + design.center
    if design.terms != fitted.terms or not np.allclose(raw_fitted, raw_combined, rtol=1e-9, atol=1e-12):
        raise ModelSpecError(
            "predictions need terms that depend on each row alone; a term of the formula changes with the "
            "data it is evaluated on (e.g. scale() or center()): compute that column before fitting"
        )
    return fitted, design


def expected_outcome(posterior: xr.Dataset, data: pd.DataFrame, rows: pd.DataFrame, spec, groups: str, seed: int):
    """Draws (rows, draws) of the expected outcome E[y] at the new rows, on the data scale."""
    family = get_family(spec.family)
    _, design = new_row_design(data, rows, spec)
    n_new = rows.shape[0]
    new = slice(design.n - n_new, design.n)
    draws = posterior.stack(sample=SAMPLE_DIMS)
    raw = design.X[new] * design.scale + design.center
    eta = np.zeros((n_new, draws.sizes["sample"]))
    if family.intercept_parameter and "Intercept" in draws:
        eta += draws["Intercept"].to_numpy()
    if design.terms:
        eta += raw @ draws["b"].sel(term=design.terms).to_numpy()
    if groups == "fitted":
        eta += fitted_group_effects(draws, design, new)
    elif groups == "new":
        eta += new_level_effects(draws, design, new, np.random.default_rng(seed))
    # Draws first, rows last: the families broadcast parameters of shape (draws, ...) this way.
    params = {p.name: draws[p.name].transpose("sample", ...).to_numpy() for p in family.parameters}
    trials = design.trials[new][np.newaxis, :] if design.trials is not None else None
    return np.asarray(family.mean(eta.T, params, trials=trials)).T


def fitted_group_effects(draws: xr.Dataset, design: Design, rows: slice) -> np.ndarray:
    """Sum of the fitted group effects (data scale) of each new row's own levels."""
    total = 0.0
    for effect in design.group_effects:
        if effect.effect_name not in draws:
            raise ModelSpecError(
                f"groups 'fitted' needs the fitted group effects: set save_group_effects: true ({effect.effect_name})"
            )
        levels = [effect.levels[i] for i in effect.index[rows]]
        values = draws[effect.effect_name].sel({effect.factor: levels}).to_numpy()
        total = total + values * _slope_values(effect, rows)
    return total


def new_level_effects(draws: xr.Dataset, design: Design, rows: slice, rng: np.random.Generator) -> np.ndarray:
    """Effects of one new level per grouping factor, drawn at every draw from a normal with the
    group SDs and, for the terms of a correlated bar `(1 + x | g)`, their correlations."""
    n_samples = draws.sizes["sample"]
    blocks = [block.members for block in design.correlation_blocks]
    in_block = {m for members in blocks for m in members}
    blocks += [[k] for k in range(len(design.group_effects)) if k not in in_block]
    total = 0.0
    for members, block in itertools.zip_longest(blocks, design.correlation_blocks):
        z = rng.standard_normal((len(members), n_samples))
        if block is not None:
            z = np.einsum("sij,js->is", np.linalg.cholesky(_correlation_matrices(draws, block)), z)
        for k, member in enumerate(members):
            effect = design.group_effects[member]
            sd = draws["sd"].sel(sd_term=effect.label).to_numpy()
            total = total + (sd * z[k])[np.newaxis, :] * _slope_values(effect, rows)
    return total


def _slope_values(effect, rows: slice) -> np.ndarray:
    """The raw slope column at the new rows, (rows, 1); ones for a group intercept."""
    if effect.values is None:
        return np.ones((rows.stop - rows.start, 1))
    return (effect.values[rows] * effect.scale)[:, np.newaxis]


def _correlation_matrices(draws: xr.Dataset, block) -> np.ndarray:
    """(samples, terms, terms) correlation matrices of a correlated bar, from its `cor` draws."""
    n = len(block.members)
    matrices = np.broadcast_to(np.eye(n), (draws.sizes["sample"], n, n)).copy()
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]  # the order of block.labels
    for (i, j), label in zip(pairs, block.labels):
        matrices[:, i, j] = matrices[:, j, i] = draws["cor"].sel(cor_term=label).to_numpy()
    return matrices


def grid_columns(grid: Grid, rows: pd.DataFrame) -> list[str]:
    """The grid's own columns among its new rows: the named values, or the file's predictors."""
    return list(grid.values) if grid.rows is None else [c for c in grid.rows.columns if c in rows]


def summarise(grid: Grid, rows: pd.DataFrame, draws: np.ndarray) -> pd.DataFrame:
    """The grid's own columns, then the posterior mean and 95% interval of E[y] per row."""
    table = rows[grid_columns(grid, rows)].copy()
    table.insert(0, "grid", grid.name)
    table.insert(1, "groups", grid.groups)
    table["estimate"] = draws.mean(axis=1)
    table["lower_95"] = np.quantile(draws, 0.025, axis=1)
    table["upper_95"] = np.quantile(draws, 0.975, axis=1)
    return table
