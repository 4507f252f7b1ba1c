"""The `design:` config read into replicate settings: design points (study sizes), effect levels,
the checks the schema cannot express, and each replicate's settings (a rule's params). Paths and
rule inputs live in rules/common.smk."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from homeworkflow.util.config import model_settings


@dataclass(frozen=True)
class DesignPoint:
    """Sizes of one simulated study: therapists, clients per therapist, sessions per client."""

    n_therapists: int
    clients_per_therapist: int
    sessions_per_client: int

    def __post_init__(self):
        for name in ("n_therapists", "clients_per_therapist", "sessions_per_client"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"design: {name} must be a positive integer, got {value!r}")
        if self.n_therapists < 2 or self.n_therapists * self.clients_per_therapist < 3:
            raise ValueError(
                f"design {self.label}: need at least 2 therapists and 3 clients for the random intercepts"
            )

    @property
    def label(self) -> str:
        """Wildcard value, e.g. 't40-c3-s3'."""
        return f"t{self.n_therapists}-c{self.clients_per_therapist}-s{self.sessions_per_client}"

    @property
    def n_clients(self) -> int:
        return self.n_therapists * self.clients_per_therapist

    @property
    def n_sessions(self) -> int:
        return self.n_clients * self.sessions_per_client

    def sizes(self) -> dict[str, int]:
        """The simulator's `sizes` section: totals. Nesting stays uneven around these means
        (the simulator's `allocation` concentrations; override them under `design.simulation`)."""
        return {
            "n_therapists": int(self.n_therapists),
            "n_clients": int(self.n_clients),
            "n_sessions": int(self.n_sessions),
        }

    def as_dict(self) -> dict[str, int]:
        return {
            "n_therapists": int(self.n_therapists),
            "clients_per_therapist": int(self.clients_per_therapist),
            "sessions_per_client": int(self.sessions_per_client),
        }


def design_points(designs: Mapping | Iterable[Mapping]) -> dict[str, DesignPoint]:
    """Design points by label, in config order.

    `designs` is either a grid, a mapping of the three sizes to lists that are fully crossed
    ({n_therapists: [20, 40], clients_per_therapist: [3], sessions_per_client: [2, 4]} -> 4
    points), or an explicit list of points ([{n_therapists: 20, clients_per_therapist: 3,
    sessions_per_client: 3}, ...]). Duplicates are dropped.
    """
    keys = ("n_therapists", "clients_per_therapist", "sessions_per_client")
    if isinstance(designs, Mapping):
        unknown = sorted(set(designs) - set(keys))
        if unknown:
            raise ValueError(f"design grid: unknown key(s) {unknown}; use {list(keys)}")
        lists = [designs[k] if isinstance(designs[k], (list, tuple)) else [designs[k]] for k in keys]
        points = [DesignPoint(*values) for values in itertools.product(*lists)]
    else:
        points = []
        for entry in designs:
            unknown = sorted(set(entry) - set(keys))
            if unknown or set(keys) - set(entry):
                raise ValueError(f"design point {dict(entry)}: needs exactly the keys {list(keys)}")
            points.append(DesignPoint(*(entry[k] for k in keys)))
    out = {}
    for point in points:
        out.setdefault(point.label, point)
    if not out:
        raise ValueError("design: no design points")
    return out


def effect_label(value: float) -> str:
    """Wildcard value of an effect size (an odds ratio), e.g. 1.5 -> 'or1.5'."""
    return f"or{float(value):g}"


def effect_levels(values: Iterable[float]) -> dict[str, float]:
    """Effect sizes by label, in config order; they must be positive odds ratios."""
    return _levels(
        values, effect_label, lambda v: v > 0, "design.power.effects", "odds ratios must be positive numbers", "effect sizes"
    )


def value_label(value: float) -> str:
    """Wildcard value of a simulator parameter value, e.g. 0.006 -> 'v0.006'."""
    return f"v{float(value):g}"


def value_levels(values) -> dict[str, float]:
    """Parameter values by label, in config order."""
    return _levels(values, value_label, np.isfinite, "design.study2.effects", "values must be finite numbers", "values")


def _levels(values, label, valid, key: str, rule: str, what: str) -> dict[str, float]:
    """Numbers by wildcard label, in config order, duplicates dropped; ValueError naming `key`."""
    out = {}
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not valid(value):
            raise ValueError(f"{key}: {rule}, got {value!r}")
        out.setdefault(label(value), float(value))
    if not out:
        raise ValueError(f"{key}: no {what}")
    return out


def check_design_config(design: Mapping) -> None:
    """Checks of a validated `design:` section that its schema cannot express; ValueError naming
    the key."""
    power, sbc = design["power"], design["sbc"]
    if power["replicates"] > 0:
        design_points(power["designs"])
        effect_levels(power["effects"])
    if sbc["replicates"] > 0:
        DesignPoint(**sbc["design"])
        sampling = {**design["sampling"], **sbc["sampling"]}
        total = sampling["chains"] * sampling["draws"]
        if sbc["draws_kept"] > total:
            raise ValueError(
                f"design.sbc.draws_kept ({sbc['draws_kept']}) exceeds the posterior draws "
                f"(chains x draws = {total})"
            )
        if (sbc["draws_kept"] + 1) % sbc["bins"]:
            raise ValueError(
                f"design.sbc.bins ({sbc['bins']}) must divide draws_kept + 1 ({sbc['draws_kept'] + 1})"
            )
    study2 = design["study2"]
    if study2["replicates"] > 0:
        value_levels(study2["effects"])
        if not study2["parameter"].startswith(f"{study2['outcome']}_change."):
            raise ValueError(
                f"design.study2.parameter ({study2['parameter']}) must be a parameter of the "
                f"{study2['outcome']}_change section of the Study 2 simulator (outcome: {study2['outcome']})"
            )


def section(config: Mapping, name: str) -> dict:
    """A part of the `design:` config (power, sbc, study2); an error naming it when absent."""
    design = config.get("design")
    if not design:
        raise ValueError("config has no `design:` section; add --configfile config/design.yaml")
    return design[name]


def master_seed(config: Mapping) -> int:
    """design.seed, else the workflow's seed."""
    seed = config["design"].get("seed")
    return config["seed"] if seed is None else seed


def common_settings(config: Mapping, sampling_override: Mapping | None = None) -> dict:
    """Settings every Study 1 replicate shares (so a change reruns exactly the replicates)."""
    design = config["design"]
    return {
        "model": design["model"],
        "sampling": {**design["sampling"], **(sampling_override or {})},
        "gate": design["gate"],
        "simulation": design["simulation"],
        "seed": master_seed(config),
        "centre": config["study1"]["centre"],
        "reference_levels": config["study1"]["reference_levels"],
    }


def power_points(config: Mapping) -> dict[str, DesignPoint]:
    return design_points(section(config, "power")["designs"])


def power_effects(config: Mapping) -> dict[str, float]:
    return effect_levels(section(config, "power")["effects"])


def study2_values(config: Mapping) -> dict[str, float]:
    """The Study 2 parameter values by wildcard label."""
    return value_levels(section(config, "study2")["effects"])


def power_replicate_settings(config: Mapping, design: str, effect: str, replicate: int) -> dict:
    """Settings of one power replicate: shared settings, its design point, effect and number."""
    points, effects = power_points(config), power_effects(config)
    if design not in points or effect not in effects:
        raise ValueError(
            f"design.power: no design point '{design}' with effect '{effect}' "
            f"(designs: {list(points)}, effects: {list(effects)})"
        )
    return {
        **common_settings(config),
        "parameter": section(config, "power")["parameter"],
        "design": points[design].as_dict(),
        "design_label": design,
        "effect": effects[effect],
        "effect_label": effect,
        "replicate": int(replicate),
    }


def sbc_replicate_settings(config: Mapping, replicate: int) -> dict:
    sbc = section(config, "sbc")
    return {
        **common_settings(config, sbc["sampling"]),
        "design": sbc["design"],
        "draws_kept": sbc["draws_kept"],
        "replicate": int(replicate),
    }


def study2_replicate_settings(config: Mapping, effect: str, replicate: int) -> dict:
    """Settings of one Study 2 replicate: the configured outcome model (design.study2.model, a
    model under `models:`) with the design's sampling, its parameter value and number."""
    study2, values = section(config, "study2"), study2_values(config)
    if effect not in values:
        raise ValueError(f"design.study2: no value '{effect}' (values: {list(values)})")
    if study2["model"] not in config.get("models", {}):
        raise ValueError(
            f"design.study2.model: no model '{study2['model']}' under `models:` "
            f"(models: {sorted(config.get('models', {}))})"
        )
    model = model_settings(config, study2["model"])
    table = f"study2/intervals_{study2['outcome']}"
    if model["data"] != table:
        raise ValueError(
            f"design.study2.model: model '{study2['model']}' is fitted to '{model['data']}', "
            f"not to the {study2['outcome']} intervals ('{table}')"
        )
    design = config["design"]
    return {
        "model": {k: model[k] for k in ("formula", "family", "priors", "mass_matrix") if k in model},
        "sampling": {**design["sampling"], **study2["sampling"]},
        "gate": design["gate"],
        "simulation": study2["simulation"],
        "seed": master_seed(config),
        "outcome": study2["outcome"],
        "centre": config["study2"]["baseline_centre"][study2["outcome"]],
        "exposure": study2["exposure"],
        "parameter": study2["parameter"],
        "effect": values[effect],
        "effect_label": effect,
        "replicate": int(replicate),
    }
