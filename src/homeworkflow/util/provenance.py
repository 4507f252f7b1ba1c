"""Provenance of a run: what made the results, recorded in `manifest.json`."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import subprocess
from pathlib import Path

from homeworkflow.util.config import config_hash

PACKAGES = (
    "snakemake",
    "pymc",
    "pytensor",
    "arviz",
    "nutpie",
    "numpyro",
    "jax",
    "formulae",
    "numpy",
    "pandas",
    "pyarrow",
    "statsmodels",
    "scikit-learn",
    "seaborn",
    "matplotlib",
    "papermill",
)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_version(repo: str | Path) -> str:
    """The git commit of the workflow (with "-dirty" for local changes), or "unknown"."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).isoformat(timespec="seconds")


def build_manifest(
    config: dict, inputs: list[str], log_dir: str | Path, repo: str | Path, seeds: dict
) -> dict:
    """The manifest: resolved config and hash, code version, input checksums, packages, seeds,
    and the run's start (its earliest job log) and end (now)."""
    started = min((p.stat().st_mtime for p in Path(log_dir).glob("*.log")), default=None)
    return {
        "run": config["run"],
        "config": config,
        "config_sha256": config_hash(config),
        "code_version": code_version(repo),
        "inputs": {p: {"sha256": sha256_file(p), "bytes": Path(p).stat().st_size} for p in inputs},
        "packages": package_versions(),
        "seeds": seeds,
        "started": _iso(started) if started else None,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
