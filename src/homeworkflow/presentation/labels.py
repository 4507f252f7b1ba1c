"""Readable labels for model terms, shared by figures and tables.

Model terms are named as in the posterior: numeric predictors by column (`child_age`), levels of
categorical predictors as `variable[level]` (`ebp[CPP]`), standard deviations as `sd(factor)`.
Labels come from the term names and the reference levels, never from a hard-coded level list,
so they follow the data and the configured reference levels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pandas as pd

# Per unit of the variable as it enters the model (Study 1 numeric predictors are centred, not scaled).
VARIABLE_LABELS = {
    "caregiver_present": "Caregiver present",
    "child_age": "Child age (per year)",
    "licensed": "Licensed therapist",
    "ebp": "EBP",
    "n_ebps_trained": "EBPs trained in (per EBP)",
    "race_ethnicity": "Therapist race/ethnicity",
    "ebp_fit": "Perceived EBP fit (per point, 1-5)",
    "emotional_exhaustion": "Emotional exhaustion (per point, 0-6)",
    "direct_client_hours": "Direct client hours (per weekly hour)",
    "stressful_event": "Stressful life event raised",
    "child_female": "Child female",
    "child_latinx": "Child Latinx",
    "review_percentage": "Review percentage (per point)",
    "baseline_centred": "Baseline score (per point)",
    "review_percentage:baseline_centred": "Review percentage x baseline",
    "Intercept": "Intercept",
    "sigma": "Residual SD",
}
GROUP_LABELS = {
    "therapist_id": "therapist",
    "client_id": "client",
    "organisation_id": "organisation",
}
OUTCOME_LABELS = {"phq9": "PHQ-9 (depression)", "gad7": "GAD-7 (anxiety)"}

_LEVEL = re.compile(r"^(?P<variable>[^\[\]]+)\[(?P<level>.+)\]$")
_SD = re.compile(r"^sd\((?P<group>[^()]+)\)$")


def split_term(term: str) -> tuple[str, str | None]:
    """`ebp[CPP]` -> ("ebp", "CPP"); `child_age` -> ("child_age", None)."""
    match = _LEVEL.match(term)
    return (match["variable"], match["level"]) if match else (term, None)


def variable_label(variable: str) -> str:
    return VARIABLE_LABELS.get(variable, variable.replace("_", " ").capitalize())


def group_label(factor: str) -> str:
    return GROUP_LABELS.get(factor, factor.removesuffix("_id").replace("_", " "))


def term_label(term: str, reference_levels: Mapping[str, object] | None = None) -> str:
    """A readable label: "Caregiver present", "EBP: CPP vs MAP", "SD between therapists"."""
    reference_levels = reference_levels or {}
    sd = _SD.match(term)
    if sd:
        return f"SD between {group_label(sd['group'])}s"
    variable, level = split_term(term)
    if level is None:
        return variable_label(variable)
    if level in ("True", "true"):
        return variable_label(variable)
    reference = reference_levels.get(variable)
    suffix = f" vs {reference}" if reference is not None and not isinstance(reference, bool) else ""
    return f"{variable_label(variable)}: {level}{suffix}"


def ordered_terms(terms: Iterable[str]) -> list[str]:
    """Terms in the model's own (formula) order, with each categorical's levels kept together."""
    terms = list(terms)
    first_seen: dict[str, int] = {}
    for i, term in enumerate(terms):
        first_seen.setdefault(split_term(term)[0], i)
    return sorted(terms, key=lambda t: (first_seen[split_term(t)[0]], terms.index(t)))


def reference_levels_of(table: pd.DataFrame, terms: Iterable[str] = ()) -> dict[str, object]:
    """The reference level of every categorical column of an analysis table: the one level
    that no model term names (when `terms` are given), else its first category; False for
    booleans."""
    named: dict[str, set[str]] = {}
    for term in terms:
        variable, level = split_term(term)
        if level is not None:
            named.setdefault(variable, set()).add(level)
    levels: dict[str, object] = {}
    for column in table.columns:
        values = table[column]
        if isinstance(values.dtype, pd.CategoricalDtype) and len(values.cat.categories):
            categories = [str(c) for c in values.cat.categories]
            unnamed = [c for c in categories if c not in named.get(column, ())]
            levels[column] = unnamed[0] if column in named and len(unnamed) == 1 else categories[0]
        elif pd.api.types.is_bool_dtype(values):
            levels[column] = False
    return levels


def term_rows(terms: Iterable[str], reference_levels: Mapping[str, object] | None = None) -> list[dict]:
    """Rows of a forest plot or table in formula order: a header row before the levels of each
    multi-level categorical ("EBP (vs MAP)"), then one row per term.

    Each row: {"term": term or None for headers, "label": full label, "short": indented label}.
    """
    reference_levels = reference_levels or {}
    rows: list[dict] = []
    seen: set[str] = set()
    for term in ordered_terms(terms):
        variable, level = split_term(term)
        if level is None or level in ("True", "true"):
            label = term_label(term, reference_levels)
            rows.append({"term": term, "label": label, "short": label})
            continue
        if variable not in seen:
            seen.add(variable)
            reference = reference_levels.get(variable)
            header = variable_label(variable) + (f" (vs {reference})" if reference is not None else "")
            rows.append({"term": None, "label": header, "short": header})
        rows.append({"term": term, "label": term_label(term, reference_levels), "short": f"    {level}"})
    return rows
