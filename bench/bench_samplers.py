"""Fit the configured models at paper size with each sampler, side by side in one run.

For each model (Study 1 `homework`, Study 2 `phq9_change`) and sampler (nutpie = the default path,
PyMC's default NUTS, numpyro), one fresh Python process fits the model's configured chains, draws and
warm-up with threads=2, exactly as the workflow's fit_model job does (data made by the same simulate ->
validate -> clean -> features steps). Compile caches are warmed first by a short fit in another
process (so the timed fit is a "warm cache" job). Reports wall (process, fit, compile, sampling,
post-processing), gradient evaluations per min bulk ESS, time per gradient, min bulk ESS,
ESS per second of the whole fit, and the ratio of that to PyMC's default NUTS.

    .venv/bin/python bench/bench_samplers.py [--models homework phq9_change] [--samplers nutpie pymc numpyro]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_CACHE, run_worker, save  # noqa: E402

COMMON = Path(__file__).resolve().parent / "common.py"
MODELS = ["homework", "phq9_change"]
SAMPLERS = ["nutpie", "pymc", "numpyro"]


# Variants besides the three samplers: name -> (sampler, model-setting overrides).
VARIANTS = {
    "nutpie-low-rank": ("nutpie", {"mass_matrix": "low_rank"}),
    "nutpie-diagonal": ("nutpie", {"mass_matrix": "diagonal"}),
}


def fit(model: str, sampler: str, warm: bool = True) -> dict:
    sampler, settings = VARIANTS.get(sampler, (sampler, {}))
    job = {"model": model, "overrides": {"sampler": sampler, **settings}, "threads": 2, "cache": str(BENCH_CACHE)}
    if settings:
        job["label"] = {"variant": ",".join(f"{k}={v}" for k, v in settings.items())}
    if warm:  # populate the on-disk compile caches with a tiny fit
        run_worker(COMMON, [json.dumps({**job, "overrides": {**job["overrides"], "draws": 20, "tune": 20}})])
    return run_worker(COMMON, [json.dumps(job)])


def with_ratios(rows: list[dict]) -> list[dict]:
    for row in rows:
        base = next(
            (r for r in rows if r["model"] == row["model"] and r["sampler"] == "pymc" and "variant" not in r), None
        )
        if base:
            row["ess_per_s_vs_pymc"] = round(row["ess_per_s"] / base["ess_per_s"], 2)
            row["sampling_ess_per_s_vs_pymc"] = round(
                row["ess_per_sampling_s"] / base["ess_per_sampling_s"], 2
            )
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS, help=f"of {SAMPLERS + list(VARIANTS)}")
    parser.add_argument("--name", default="samplers", help="results name")
    args = parser.parse_args(argv)
    rows = []
    for model in args.models:
        for sampler in args.samplers:
            rows.append(fit(model, sampler))
            print(json.dumps(rows[-1]), flush=True)
    rows = with_ratios(rows)
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
