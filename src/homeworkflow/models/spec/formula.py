"""Turn an lme4/brms-style formula and a data frame into a checked, standardised design.

formulae parses the formula and builds the population-level (fixed) design matrix. Group terms
are turned into integer level indices here, so no dense one-hot matrix of, say, 100,000 clients is
ever built.
"""

from __future__ import annotations

import copy
import logging
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulae import model_description
from formulae.environment import Environment
from formulae.matrices import DesignMatrices
from formulae.terms import Intercept, Model

from ..errors import ModelSpecError, data_rows
from .families import Family, get_family, split_trials

log = logging.getLogger(__name__)

_ENV = Environment([{"np": np}])


@dataclass
class GroupEffect:
    """One varying effect: the intercept or one slope column varying over a grouping factor."""

    factor: str  # "district", or "therapist:client" for a nested factor
    column: str | None  # None for the group intercept, else the slope's design column
    index: np.ndarray  # level code per observation
    levels: list[str]
    values: np.ndarray | None  # slope column divided by `scale`; None for intercepts
    scale: float  # SD of the raw slope column (1 for intercepts)

    @property
    def label(self) -> str:
        return f"sd({self.factor})" if self.column is None else f"sd({self.factor})[{self.column}]"

    @property
    def effect_name(self) -> str:
        return f"r_{self.factor}" if self.column is None else f"r_{self.factor}[{self.column}]"


@dataclass
class CorrelationBlock:
    """The group effects of one bar `(1 + x | g)` over one factor, modelled as correlated:
    their positions in Design.group_effects, in the bar's order."""

    factor: str
    members: list[int]
    columns: list[str]  # "Intercept" or the slope's design column, per member

    @property
    def labels(self) -> list[str]:
        """`cor(g)[Intercept,x]` per pair, in brms's order (0,1), (0,2), ..., (1,2), ..."""
        n = len(self.columns)
        return [f"cor({self.factor})[{self.columns[i]},{self.columns[j]}]" for i in range(n) for j in range(i + 1, n)]


@dataclass
class Design:
    """Standardised design: X[:, j] = (raw_j - center[j]) / scale[j]; y as checked by the family
    (0/1, numbers, counts, or category codes 0..K-1 of `outcome_levels` for cumulative)."""

    outcome: str
    y: np.ndarray
    has_intercept: bool
    terms: list[str]
    X: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    group_effects: list[GroupEffect]
    categorical: dict[str, np.ndarray]  # raw categorical predictors, for checks per level
    y_center: float = 0.0
    y_scale: float = 1.0
    trials: np.ndarray | None = None  # binomial: trials per observation
    outcome_levels: list[str] | None = None  # cumulative: the ordered categories
    correlation_blocks: list[CorrelationBlock] = field(default_factory=list)  # bars with >= 2 columns

    @property
    def n(self) -> int:
        return len(self.y)


def normalize_formula(formula: str) -> str:
    """Accept R's ^ (power inside I(), term crossing outside) by writing Python's **."""
    return formula.replace("^", "**")


def describe(formula: str):
    """Parse a formula with formulae; any parse failure becomes a ModelSpecError."""
    try:
        description = model_description(scan_bars(normalize_formula(formula))[0])
    except Exception as err:  # formulae raises ScanError, ParseError, TypeError, ...
        raise ModelSpecError(f"cannot parse formula '{formula}': {err}") from err
    if description.response is None:
        raise ModelSpecError(f"formula '{formula}' has no outcome (write 'y ~ ...')")
    response = description.response.term
    if len(response.components) != 1 or type(response.components[0]).__name__ != "Variable":
        raise ModelSpecError(f"outcome '{response.name}' must be a plain column name")
    for term in description.common_terms:
        if term.name.startswith("offset("):
            raise ModelSpecError(f"term '{term.name}': offsets are not supported")
    for term in description.group_terms:
        for component in term.factor.components:
            if type(component).__name__ != "Variable":
                raise ModelSpecError(f"grouping factor '{component.name}' must be a column name")
    return description


def scan_bars(formula: str) -> tuple[str, list[tuple[str, bool]]]:
    """lme4's bars right of '~': the formula with `||` written `|` (formulae reads only `|`), and
    each bar's text `(expr | factor)` with whether it was written `||` (independent terms)."""
    tilde = formula.find("~") + 1
    out, bars, stack, i = list(formula[:tilde]), [], [], tilde
    while i < len(formula):
        char = formula[i]
        if char == "(":
            stack.append([len(out), None])
        elif char == "|" and stack:
            stack[-1][1] = formula.startswith("||", i)
            i += stack[-1][1]  # skip the second bar of `||`
        elif char == ")" and stack:
            start, independent = stack.pop()
            if independent is not None:
                bars.append(("".join(out[start:]) + ")", independent))
        out.append(char)
        i += 1
    return "".join(out), bars


def group_structure(formula: str, group_terms: list, frame: pd.DataFrame):
    """The group effects of every formulae group term, and the correlation blocks: the columns of
    one `|` bar over one factor (`(1 + x | g/h)` gives one block over g and one over g:h); the
    columns of a `||` bar stay independent. formulae splits bars into single terms, so each bar
    is parsed on its own to know which terms share it."""
    bar_of: dict[str, tuple[int, bool]] = {}
    for b, (text, independent) in enumerate(scan_bars(normalize_formula(formula))[1]):
        for term in describe_bar(text, formula).group_terms:
            if term.name in bar_of:
                raise ModelSpecError(
                    f"formula '{formula}': group-level term '{term.name}' appears in two bars; "
                    "write each varying term once (as brms requires)"
                )
            bar_of[term.name] = (b, independent)
    effects, members = [], {}
    for term in group_terms:
        made = group_effects(term, frame)
        bar, independent = bar_of[term.name]
        if not independent:
            positions = members.setdefault((bar, made[0].factor), [])
            positions += range(len(effects), len(effects) + len(made))
        effects += made
    blocks = [
        CorrelationBlock(factor, positions, [effects[k].column or "Intercept" for k in positions])
        for (_, factor), positions in members.items()
        if len(positions) > 1
    ]
    return effects, blocks


def describe_bar(text: str, formula: str):
    try:
        return model_description(text)
    except Exception as err:  # formulae raises ScanError, ParseError, TypeError, ...
        raise ModelSpecError(f"cannot parse formula '{formula}': group term {text}: {err}") from err


def tidy_label(label: str) -> str:
    """Term label as reported: formulae writes I(age ** 2); we write I(age**2)."""
    return re.sub(r"\s*\*\*\s*", "**", label)


def build_design(
    data: pd.DataFrame,
    formula: str,
    family: str | Family,
    reference_levels: dict,
    outcome_levels: list | None = None,
) -> Design:
    """Check the data against the formula and return the standardised design. `family`: a name or
    a families.Family; `outcome_levels`: the order of a cumulative outcome's categories."""
    family = get_family(family)
    formula, trials_column = split_trials(formula)
    if trials_column is not None and not family.uses_trials:
        raise ModelSpecError(f"'| trials({trials_column})' belongs to family binomial, not {family.name}")
    if family.uses_trials and trials_column is None:
        raise ModelSpecError("family binomial needs its trials: write 'successes | trials(n) ~ ...'")
    description = describe(formula)
    outcome = description.response.term.name
    used = sorted({v for v in description.var_names if v} | ({trials_column} if trials_column else set()))
    unknown = [v for v in used if v not in data.columns]
    if unknown:
        raise ModelSpecError(f"formula '{formula}' uses column(s) not in the data: {unknown}")
    for column in used:
        missing = int(data[column].isna().sum())
        if missing:
            raise ModelSpecError(
                f"column '{column}' has {missing} missing value(s), {data_rows(data[column].isna())}; "
                "drop or impute them first"
            )
    unused_refs = sorted(set(reference_levels) - set(used))
    if unused_refs:  # study-wide reference levels reach every model of the study
        log.info("reference_levels for column(s) not in the formula ignored: %s", unused_refs)
    reference_levels = {k: v for k, v in reference_levels.items() if k in used}

    y = family.check_outcome(data[outcome].reset_index(drop=True), outcome, outcome_levels)
    trials = (
        family.check_trials(y, data[trials_column].reset_index(drop=True), outcome, trials_column)
        if trials_column
        else None
    )
    frame = encode_categoricals(
        data[used], exclude={outcome, trials_column}, reference_levels=reference_levels
    )
    fixed_vars = sorted({v for t in description.common_terms for v in t.var_names if v})
    check_constant_columns(frame, fixed_vars)
    X, labels, has_intercept = evaluate_terms(description.common_terms, frame)
    center, scale = standardise(X, labels, has_intercept)
    categorical = {v: frame[v].astype(str).to_numpy() for v in fixed_vars if is_categorical(frame[v])}
    if family.warns_separation:
        warn_separation(y, categorical)
    effects, blocks = group_structure(formula, description.group_terms, frame)
    design = Design(
        outcome=outcome,
        y=y,
        has_intercept=has_intercept,
        terms=labels,
        X=(X - center) / scale,
        center=center,
        scale=scale,
        group_effects=effects,
        categorical=categorical,
        trials=trials,
        outcome_levels=family.categories(data[outcome], outcome, outcome_levels),
        correlation_blocks=blocks,
    )
    if family.standardised_outcome:
        design.y_center, design.y_scale = float(y.mean()), float(y.std())
    return design


def is_categorical(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def encode_categoricals(frame: pd.DataFrame, exclude: set, reference_levels: dict) -> pd.DataFrame:
    """Make every categorical predictor an ordered categorical: reference level first, rest sorted."""
    frame = frame.copy()
    for column in frame.columns:
        if column in exclude:
            continue
        values = frame[column]
        if not is_categorical(values):
            if column in reference_levels:
                raise ModelSpecError(f"reference_levels: column '{column}' is numeric, not categorical")
            continue
        levels = [str(level) for level in sorted(pd.unique(values))]
        if column in reference_levels:
            reference = str(reference_levels[column])
            if reference not in levels:
                raise ModelSpecError(
                    f"reference_levels: '{reference}' is not a level of '{column}' (levels: {levels})"
                )
            levels.remove(reference)
            levels.insert(0, reference)
        frame[column] = pd.Categorical(values.astype(str), categories=levels, ordered=True)
    return frame


def check_constant_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        if frame[column].nunique() < 2:
            value = frame[column].iloc[0]
            value = value.item() if isinstance(value, np.generic) else value  # 5, not np.int64(5)
            raise ModelSpecError(f"predictor '{column}' is constant (single value {value!r}); drop it from the formula")


def evaluate_terms(terms: list, frame: pd.DataFrame) -> tuple[np.ndarray, list[str], bool]:
    """Fixed design matrix (intercept column removed), its column labels, and whether an intercept was present."""
    terms = copy.deepcopy(terms)  # formulae stores evaluation state on the term objects
    has_intercept = any(isinstance(t, Intercept) for t in terms)
    if not [t for t in terms if not isinstance(t, Intercept)]:
        return np.empty((len(frame), 0)), [], has_intercept
    try:
        common = DesignMatrices(Model(*terms), frame, _ENV).common
    except Exception as err:
        raise ModelSpecError(f"cannot evaluate term(s) {[t.name for t in terms]}: {err}") from err
    X, labels = [], []
    for name, term in common.terms.items():
        if isinstance(term, Intercept):
            continue
        X.append(common[name])
        labels += [tidy_label(label) for label in term.labels]
    return np.column_stack(X).astype(float), labels, has_intercept


def standardise(X: np.ndarray, labels: list[str], has_intercept: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column means (zeros without an intercept, so the model stays intercept-free) and SDs."""
    scale = X.std(axis=0)
    for label, s in zip(labels, scale):
        if s == 0:
            raise ModelSpecError(
                f"design column '{label}' is constant in the data; drop the term or recode it"
            )
    center = X.mean(axis=0) if has_intercept else np.zeros(X.shape[1])
    return center, scale


def warn_separation(y: np.ndarray, categorical: dict[str, np.ndarray]) -> None:
    """Warn (not fail) when a level of a categorical predictor has only 0s or only 1s."""
    for column, values in categorical.items():
        for level in sorted(set(values)):
            outcomes = y[values == level]
            if outcomes.min() == outcomes.max():
                message = (
                    f"complete separation: outcome is always {int(outcomes[0])} when {column} == {level!r} "
                    f"({len(outcomes)} rows); its coefficient is identified only by the prior"
                )
                log.warning(message)
                warnings.warn(message, UserWarning, stacklevel=3)


def group_effects(term, frame: pd.DataFrame) -> list[GroupEffect]:
    """Level indices (and scaled slope columns) for one formulae group term, e.g. (1 + x | g)."""
    factor_vars = [c.name for c in term.factor.components]
    factor = ":".join(factor_vars)
    keys = pd.MultiIndex.from_frame(frame[factor_vars].astype(object))
    index, uniques = keys.factorize(sort=True)
    levels = [":".join(map(str, level)) for level in uniques]
    if len(levels) < 2:
        raise ModelSpecError(
            f"grouping factor '{factor}' has a single level ({levels[0]}); drop the (…|{factor}) term"
        )
    if isinstance(term.expr, Intercept):
        return [GroupEffect(factor, None, index, levels, None, 1.0)]
    X, labels, _ = evaluate_terms([Intercept(), term.expr], frame)
    effects = []
    for label, column in zip(labels, X.T):
        scale = float(column.std())
        if scale == 0:
            raise ModelSpecError(f"varying slope '{label}' over '{factor}' is constant in the data")
        effects.append(GroupEffect(factor, label, index, levels, column / scale, scale))
    return effects
