"""Resolving the workflow's config: per-model settings and the config's hash."""

from __future__ import annotations

import copy
import hashlib
import json

# Derived tables a model's `data` may name (their paths: rules/common.smk).
DERIVED_TABLE_NAMES = ("study1/sessions", "study2/sessions", "study2/intervals_phq9", "study2/intervals_gad7")


def model_settings(config: dict, name: str) -> dict:
    """One model's full settings: workflow-wide sampling and gate defaults, then its own keys."""
    own = copy.deepcopy(config["models"][name])
    settings = {**config["sampling"], "seed": config["seed"], **own}
    settings["gate"] = {**config["gate"], **own.get("gate", {})}
    study = own["data"].split("/")[0]
    if own["data"] in DERIVED_TABLE_NAMES and study in config:
        study_levels = config[study].get("reference_levels", {})
        settings["reference_levels"] = {**study_levels, **own.get("reference_levels", {})}
    return settings


def config_hash(config: dict) -> str:
    """SHA-256 of the resolved config in canonical JSON."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
