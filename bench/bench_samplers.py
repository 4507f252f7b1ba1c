"""Fit the configured models at paper size with each sampler, side by side in one run.

For each model (Study 1 `homework`, Study 2 `phq9_change` and `gad7_change`) and sampler (nutpie =
the default path, PyMC's default NUTS, numpyro), one fresh Python process fits the model's configured
chains, draws and warm-up with threads=2, exactly as the workflow's fit_model job does (data made by
the same simulate -> validate -> clean -> features steps). Compile caches are warmed first by a
short fit in another process (so the timed fit is a "warm cache" job). Reports wall (process, fit,
compile, sampling, post-processing), gradient evaluations per min bulk ESS, time per gradient, min
bulk ESS, ESS per second of the whole fit, and the ratio of that to PyMC's default NUTS.

    .venv/bin/python bench/bench_samplers.py [--models homework phq9_change] [--samplers nutpie pymc numpyro]
        [--seeds 1 2 3]     # several side-by-side runs, and their medians
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_CACHE, run_worker, save  # noqa: E402

COMMON = Path(__file__).resolve().parent / "common.py"
MODELS = ["homework", "phq9_change", "gad7_change"]
SAMPLERS = ["nutpie", "pymc", "numpyro"]


# Variants besides the three samplers: name -> (sampler, model-setting overrides).
VARIANTS = {
    "nutpie-low-rank": ("nutpie", {"mass_matrix": "low_rank"}),
    "nutpie-diagonal": ("nutpie", {"mass_matrix": "diagonal"}),
}


def fit(model: str, sampler: str, seed: int | None = None, warm: bool = True) -> dict:
    sampler, settings = VARIANTS.get(sampler, (sampler, {}))
    overrides = {"sampler": sampler, **settings, **({"seed": seed} if seed is not None else {})}
    job = {"model": model, "overrides": overrides, "threads": 2, "cache": str(BENCH_CACHE)}
    job["label"] = {"seed": seed if seed is not None else "config"}
    if settings:
        job["label"]["variant"] = ",".join(f"{k}={v}" for k, v in settings.items())
    if warm:  # populate the on-disk compile caches with a tiny fit
        run_worker(COMMON, [json.dumps({**job, "overrides": {**job["overrides"], "draws": 20, "tune": 20}})])
    return run_worker(COMMON, [json.dumps(job)])


# Ratio columns -> the ESS-per-second column each divides by PyMC's.
RATIOS = {"ess_per_s_vs_pymc": "ess_per_s", "sampling_ess_per_s_vs_pymc": "ess_per_sampling_s"}


def with_ratios(rows: list[dict]) -> list[dict]:
    """Each row's ESS per second over PyMC's, for the same model and seed."""
    for row in rows:
        base = next(
            (r for r in rows if _key(r) == (row["model"], row["seed"], "pymc") and "variant" not in r), None
        )
        if base:
            row |= {ratio: round(row[col] / base[col], 2) for ratio, col in RATIOS.items()}
    return rows


def _key(row: dict) -> tuple:
    return row["model"], row["seed"], row["sampler"]


def medians(rows: list[dict]) -> list[dict]:
    """One row per model and sampler: medians over seeds, and the ratio of median ESS per second to
    PyMC's (a seed does not pair two samplers' chains, so this, not the median of per-seed ratios)."""
    table = pd.DataFrame(rows)
    table["variant"] = table["variant"] if "variant" in table else None
    keys = ["ess_per_s", "ess_per_sampling_s", "min_ess_bulk", "fit_total_s"]
    grouped = table.groupby(["model", "sampler", "variant"], dropna=False, sort=False)[keys].median()
    pymc = {m: v for (m, smp, var), v in grouped.iterrows() if smp == "pymc" and not isinstance(var, str)}
    out = []
    for (model, sampler, variant), values in grouped.iterrows():
        row = {"model": model, "sampler": sampler, "seed": "median", **values.round(2).to_dict()}
        if isinstance(variant, str):
            row["variant"] = variant
        if model in pymc:
            row |= {ratio: round(float(values[col] / pymc[model][col]), 2) for ratio, col in RATIOS.items()}
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS, help=f"of {SAMPLERS + list(VARIANTS)}")
    parser.add_argument(
        "--seeds", nargs="+", type=int, help="sampler seeds, each a side-by-side run (default: the config's)"
    )
    parser.add_argument("--name", default="samplers", help="results name")
    args = parser.parse_args(argv)
    rows = []
    for model in args.models:
        for seed in args.seeds or [None]:
            for sampler in args.samplers:
                rows.append(fit(model, sampler, seed))
                print(json.dumps(rows[-1]), flush=True)
    rows = with_ratios(rows)
    if args.seeds and len(args.seeds) > 1:
        rows += medians(rows)
    notes = (
        "Each fit is a fresh process, warm compile cache, the configured chains x (tune + draws), threads=2, "
        "paper-size simulated data (config seed). ess_per_s = min bulk ESS / whole fit wall "
        "(compile + sampling + post-processing); ess_per_sampling_s uses sampling time only. "
        "ms_per_grad = sampling wall x parallel chains / gradient evaluations. Ratios are to PyMC's "
        "default NUTS in the same run."
    )
    save(args.name, rows, notes)
    return rows


if __name__ == "__main__":
    main()
