"""ModelSpec: one model's config, validated before any data is touched."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ModelSpecError
from .families import FAMILIES, get_family, split_trials
from .priors import Prior, parse_priors

SAMPLERS = ("nutpie", "pymc", "numpyro")
# nutpie's mass-matrix adaptation ("auto": chosen from the data, backend/geometry.py);
# PyMC and numpyro always adapt a diagonal one.
MASS_MATRICES = ("auto", "low_rank", "diagonal")
# Group intercepts' parametrisation, for all factors or per factor ("auto": chosen from the data).
CENTRINGS = ("auto", "centred", "non_centred")
DEFAULT_SEED = 1


@dataclass(frozen=True)
class Gate:
    """Convergence thresholds a fit must meet; on_fail is "warn" or "error"; `extend`: rounds of
    `chains` more chains sampled and pooled while only R-hat or ESS miss the thresholds."""

    max_rhat: float = 1.01
    min_ess: float = 400
    max_divergences: int = 0
    on_fail: str = "warn"
    extend: int = 2

    @classmethod
    def from_config(cls, cfg: object) -> Gate:
        if cfg is None:
            return cls()
        if not isinstance(cfg, dict):
            raise ModelSpecError(f"'gate' must be a mapping, got {type(cfg).__name__}")
        unknown = set(cfg) - {f.name for f in fields(cls)}
        if unknown:
            raise ModelSpecError(f"unknown gate key(s): {sorted(unknown)}")
        gate = cls(**cfg)
        for key in ("max_rhat", "min_ess", "max_divergences"):
            value = getattr(gate, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ModelSpecError(f"gate.{key} must be a non-negative number, got {value!r}")
        if not isinstance(gate.extend, int) or isinstance(gate.extend, bool) or gate.extend < 0:
            raise ModelSpecError(f"gate.extend must be a whole number >= 0, got {gate.extend!r}")
        if gate.on_fail not in ("warn", "error"):
            raise ModelSpecError(f"gate.on_fail must be 'warn' or 'error', got {gate.on_fail!r}")
        return gate


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to fit one model except the data."""

    name: str
    formula: str
    family: str = "bernoulli"
    priors: dict[str, Prior] = field(default_factory=dict)
    reference_levels: dict[str, Any] = field(default_factory=dict)
    outcome_levels: list | None = None  # cumulative: the outcome's categories, lowest first
    sampler: str = "nutpie"
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    seed: int = DEFAULT_SEED
    target_accept: float = 0.9
    mass_matrix: str = "auto"
    centring: str | dict[str, str] = "auto"  # one of CENTRINGS, or grouping factor -> one of them
    gate: Gate = field(default_factory=Gate)
    save_group_effects: bool = True
    save_log_likelihood: bool = True

    @classmethod
    def from_config(cls, name: str, cfg: dict) -> ModelSpec:
        """Build from a config mapping; the `data` key is accepted and ignored."""
        if not isinstance(cfg, dict):
            raise ModelSpecError(f"model '{name}': config must be a mapping")
        known = {f for f in cls.__dataclass_fields__ if f != "name"} | {"data"}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ModelSpecError(f"model '{name}': unknown config key(s) {unknown}; known: {sorted(known)}")
        if not isinstance(cfg.get("formula"), str) or not cfg["formula"].strip():
            raise ModelSpecError(f"model '{name}': 'formula' (a non-empty string) is required")
        values = {k: v for k, v in cfg.items() if k not in ("data", "priors", "gate")}
        spec = cls(
            name=name,
            priors=parse_priors(cfg.get("priors")),
            gate=Gate.from_config(cfg.get("gate")),
            **values,
        )
        spec._validate()
        return spec

    def _validate(self) -> None:
        def fail(msg: str):
            raise ModelSpecError(f"model '{self.name}': {msg}")

        if self.family not in FAMILIES:
            fail(f"family must be one of {tuple(FAMILIES)}, got {self.family!r}")
        family = get_family(self.family)
        _, trials = split_trials(self.formula)
        if trials is not None and not family.uses_trials:
            fail(f"'| trials({trials})' in the formula belongs to family binomial, not {self.family}")
        if family.uses_trials and trials is None:
            fail("family binomial needs its trials: write the formula as 'successes | trials(n) ~ ...'")
        if self.outcome_levels is not None:
            if not family.ordinal:
                fail(f"outcome_levels orders an ordinal outcome (family cumulative), not a {self.family} one")
            levels = self.outcome_levels
            if not isinstance(levels, list) or any(isinstance(v, (bool, list, dict)) or v is None for v in levels):
                fail(f"outcome_levels must be a list of category values, lowest first; got {levels!r}")
            if len({str(v) for v in levels}) != len(levels):
                fail(f"outcome_levels repeats a category: {levels!r}")
        if self.sampler not in SAMPLERS:
            fail(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        for key, minimum in (("chains", 1), ("draws", 1), ("tune", 0), ("seed", 0)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                fail(f"'{key}' must be an integer of at least {minimum}, got {value!r}")
        if not 0 < self.target_accept < 1:
            fail(f"target_accept must lie in (0, 1), got {self.target_accept!r}")
        if self.mass_matrix not in MASS_MATRICES:
            fail(f"mass_matrix must be one of {MASS_MATRICES}, got {self.mass_matrix!r}")
        choices = self.centring.values() if isinstance(self.centring, dict) else [self.centring]
        if not isinstance(self.centring, (str, dict)) or any(c not in CENTRINGS for c in choices):
            fail(f"centring must be one of {CENTRINGS} or a mapping of grouping factor to one of them, got {self.centring!r}")
        if not isinstance(self.reference_levels, dict):
            fail("reference_levels must be a mapping of column -> level")
        for key in ("save_group_effects", "save_log_likelihood"):
            if not isinstance(getattr(self, key), bool):
                fail(f"{key} must be true or false, got {getattr(self, key)!r}")
