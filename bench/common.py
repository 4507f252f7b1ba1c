"""Shared helpers for the benchmarks: timing and writing results as JSON and Markdown."""

from __future__ import annotations

import json
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def timed(record: dict, key: str):
    """Store the wall time of the block, in seconds, as record[key]."""
    start = time.perf_counter()
    yield
    record[key] = round(time.perf_counter() - start, 3)


def machine() -> dict:
    import os

    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
    if hasattr(os, "sched_getaffinity"):
        info["cores_usable"] = len(os.sched_getaffinity(0))
    if os.environ.get("BENCH_HOST"):
        info["host"] = os.environ["BENCH_HOST"]
    return info


def save(name: str, rows: list[dict], notes: str = "") -> pd.DataFrame:
    """Write bench/results/<name>.json and <name>.md, and print the table."""
    RESULTS.mkdir(exist_ok=True)
    table = pd.DataFrame(rows)
    payload = {"benchmark": name, "machine": machine(), "rows": rows, "notes": notes}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    markdown = f"# {name}\n\n{notes}\n\nMachine: {machine()}\n\n{table.to_markdown(index=False)}\n"
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
    return table


# --- Model benchmarks -------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "config.yaml"
# Compile caches of the benchmarks (git-ignored, like the workflow's .cache/compile/<model>).
BENCH_CACHE = ROOT / ".cache" / "compile" / "bench"


def load_config() -> dict:
    import yaml

    return yaml.safe_load(CONFIG.read_text())


def model_data(model: str, config: dict, simulation: dict | None = None):
    """The analysis table of a configured model, made as the workflow makes it (simulate, validate,
    clean, features), from the config's seed; `simulation` overrides the simulator's defaults."""
    from homeworkflow.data.chain import analysis_tables
    from homeworkflow.simulate import simulate_study1, simulate_study2

    source = config["models"][model]["data"]
    study = source.split("/")[0]
    simulate = simulate_study1 if study == "study1" else simulate_study2
    tables, _ = simulate(simulation or config[study].get("simulation") or {}, seed=config["seed"])
    if study == "study1":
        derived, _ = analysis_tables(
            study, tables, reference_levels=config["study1"]["reference_levels"], centre=config["study1"]["centre"]
        )
        return derived["sessions"]
    outcome = source.split("_")[-1]
    derived, _ = analysis_tables(
        study, tables, outcomes=[outcome], baseline_centre=config["study2"]["baseline_centre"]
    )
    return derived[f"intervals_{outcome}"]


def model_spec(model: str, config: dict, **overrides):
    """The ModelSpec the workflow would fit for `model`, with `overrides` (sampler, draws, ...)."""
    from homeworkflow.util.config import model_settings
    from homeworkflow.models import ModelSpec

    settings = {**model_settings(config, model), **overrides}
    return ModelSpec.from_config(model, settings)


def fit_row(result, wall_s: float) -> dict:
    """One benchmark row from a FitResult's diagnostics."""
    d = result.diagnostics
    row = {
        "model": d["model"],
        "sampler": d["sampler"],
        "n_obs": d["n_obs"],
        "draws": f"{d['chains']}x({d['tune']}+{d['draws']})",
        "process_wall_s": round(wall_s, 1),
        "fit_total_s": round(d["total_s"], 1),
        "compile_s": round(d["compile_s"], 1),
        "sampling_s": round(d["sampling_s"], 1),
        "postprocess_s": round(d["postprocess_s"], 1),
        "min_ess_bulk": round(d["min_ess_bulk"]),
        "max_rhat": round(d["max_rhat"], 4),
        "divergences": d["divergences"],
        "grad_evals": d["n_gradient_evals"],
    }
    grads = d["n_gradient_evals"]
    row["grads_per_ess"] = round(grads / d["min_ess_bulk"], 1) if grads else None
    # Per-chain gradient cost: chains run in parallel on `threads` cores, so this is wall per gradient
    # of one chain when chains <= threads (an upper bound otherwise).
    row["ms_per_grad"] = (
        round(1000 * d["sampling_s"] * min(d["chains"], d["threads"]) / grads, 4) if grads else None
    )
    row["ess_per_s"] = round(d["min_ess_bulk"] / d["total_s"], 2)
    row["ess_per_sampling_s"] = round(d["min_ess_bulk"] / d["sampling_s"], 2)
    row["gate_passed"] = d["gate_passed"]
    lowest = result.summary.loc[result.summary["ess_bulk"].idxmin()]
    row["lowest_ess_term"] = f"{lowest['term']} ({lowest['ess_bulk']:.0f}, R-hat {lowest['r_hat']:.3f})"
    return row


def run_worker(script: Path, args: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
    """Run `script --worker args...` in a fresh Python (so caches are on disk only, as in a job);
    the worker prints one JSON line starting with 'ROW '. Returns that row with process_wall_s."""
    import os
    import subprocess
    import sys

    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), "--worker", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    rows = [line[4:] for line in proc.stdout.splitlines() if line.startswith("ROW ")]
    if proc.returncode or not rows:
        raise RuntimeError(f"worker {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    row = json.loads(rows[-1])
    row["process_wall_s"] = round(wall, 1)
    return row


def worker(job: dict) -> None:
    """Fit one model as described by `job` and print its row (see run_worker)."""
    import os
    import sys

    sys.path.insert(0, str(ROOT / "src"))
    from homeworkflow.models.backend.cache import configure_compile_cache

    configure_compile_cache(Path(job.get("cache", BENCH_CACHE)))
    if job.get("numba_cache_off"):
        os.environ.pop("NUMBA_CACHE_DIR", None)
    import warnings

    warnings.simplefilter("ignore")
    from homeworkflow.models import fit_model

    start = time.perf_counter()
    config = load_config()
    data = model_data(job["model"], config, job.get("simulation"))
    data_s = time.perf_counter() - start
    spec = model_spec(job["model"], config, **job.get("overrides", {}))
    result = fit_model(data, spec, threads=job.get("threads", 2))
    row = fit_row(result, time.perf_counter() - start)
    row["data_s"] = round(data_s, 1)
    row.update(job.get("label", {}))
    print("ROW " + json.dumps(row, default=str), flush=True)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--worker"]:
        worker(json.loads(sys.argv[2]))
