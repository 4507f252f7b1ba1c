"""Determinism: the same config and seed give the same results, run after run and at any
`--cores`.

Two runs of the real workflow in separate scratch directories, one with `--cores 1` and one with
`--cores 2` (so model jobs sample with 1 and 2 threads), are compared file by file:

- tables (CSV, Markdown, LaTeX, HTML tables, Parquet) and plain JSON: byte-identical;
- `posterior.nc`: every variable of every group identical (values, dims, coordinates). The
  files are not byte-identical: ArviZ stamps each group with `created_at`;
- `diagnostics.json`: identical except wall times (`*_s`) and `threads`;
- `manifest.json`: identical except `started`/`finished` and `code_version` (the git state,
  which changes if the tree is edited while the test runs);
- figures (PNG, PDF, SVG): byte-identical; every figure file both runs produced is compared;
- executed notebooks and logs: not compared (they record execution times).

The second run of each pair reuses the first run's compile cache (workflow_runner links one
cache for all test runs), so a cache changes speed only, never draws.

`make test` runs the data stages (simulation, validation, cleaning, features, Table 1);
the whole workflow with its models is `slow`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_runner import differences, result_files, run_workflow, tiny_config


def two_runs(tmp_path: Path, config: dict, targets=()):
    first = run_workflow(tmp_path / "cores1", config, targets, cores=1, timeout=3600)
    assert first.returncode == 0, first.describe()
    second = run_workflow(tmp_path / "cores2", config, targets, cores=2, timeout=3600)
    assert second.returncode == 0, second.describe()
    return first, second


def test_data_stages_identical_across_runs_and_cores(tmp_path):
    config = tiny_config("same")
    targets = [f"results/same/{s}/table1.csv" for s in ("study1", "study2")]
    first, second = two_runs(tmp_path, config, targets)
    files = result_files(first.results)
    assert any(n.endswith(".parquet") for n in files) and any(n.endswith("truth.json") for n in files)
    tables, figures = differences(first.results, second.results)
    assert tables == [] and figures == []


@pytest.mark.slow
def test_whole_workflow_identical_across_runs_and_cores(tmp_path):
    """Every model's summary.csv byte for byte, every posterior draw, every table; figures."""
    config = tiny_config("same")
    first, second = two_runs(tmp_path, config)
    summaries = sorted(first.results.glob("models/*/summary.csv"))
    assert len(summaries) == len(config["models"]), summaries
    tables, figures = differences(first.results, second.results)
    assert tables == [], tables
    assert figures == [], f"figures differ between identical runs: {figures}"
