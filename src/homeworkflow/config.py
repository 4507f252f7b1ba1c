"""Resolving the workflow's config: derived-table names and per-model settings."""

from __future__ import annotations

import copy
import hashlib
import json

# Derived tables a model's `data` may name, and where each run writes them.
DERIVED_TABLES = {
    "study1/sessions": "results/{run}/study1/analysis/sessions.parquet",
    "study2/sessions": "results/{run}/study2/analysis/sessions.parquet",
    "study2/intervals_phq9": "results/{run}/study2/analysis/intervals_phq9.parquet",
    "study2/intervals_gad7": "results/{run}/study2/analysis/intervals_gad7.parquet",
}


def model_settings(config: dict, name: str) -> dict:
    """One model's full settings: workflow-wide sampling and gate defaults, then its own keys."""
    own = copy.deepcopy(config["models"][name])
    settings = {**config["sampling"], "seed": config["seed"], **own}
    settings["gate"] = {**config["gate"], **own.get("gate", {})}
    study = own["data"].split("/")[0]
    if own["data"] in DERIVED_TABLES and study in config:
        study_levels = config[study].get("reference_levels", {})
        settings["reference_levels"] = {**study_levels, **own.get("reference_levels", {})}
    return settings


def config_hash(config: dict) -> str:
    """SHA-256 of the resolved config in canonical JSON."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
