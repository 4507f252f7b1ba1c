"""How the Study 1 `homework` model's cost grows with the number of sessions (1e3, 1e4, 1e5, 1e6).

The simulator's three sizes are scaled together from the paper's (103 therapists, 274 clients,
680 sessions). Each size is one fresh-process fit through `homeworkflow.models.fit_model`, with
`save_group_effects: false` and `save_log_likelihood: false` (no per-client draws, no
chains x draws x sessions log-likelihood), warm compile caches.

    CPU, default sampler (nutpie), 2 threads:
        .venv/bin/python bench/bench_scaling.py --device cpu --sizes 1e3 1e4 1e5
    GPU, numpyro through JAX (chains vectorised on the device); needs a CUDA jax:
        python3 bench/bench_scaling.py --device gpu --sizes 1e4 1e5 1e6

Large sizes are capped with fewer draws (--draws per size: 1e5=500 means 500+500 unless
--tune 1e5=N sets the warm-up); --chains (default 4) and --target-accept (default: the
configured) apply to every size; rows state the draws used. Reported: wall (process, compile, sampling, post-processing), ms per
gradient (of one chain; on the GPU of the whole vectorised batch), gradients per min bulk ESS,
min bulk ESS, max R-hat, and whether the convergence gate (R-hat <= 1.01, ESS >= 400) passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_CACHE, run_worker, save  # noqa: E402

COMMON = Path(__file__).resolve().parent / "common.py"
PAPER = {"n_therapists": 103, "n_clients": 274, "n_sessions": 680}
DEFAULT_DRAWS = {"1e3": 1000, "1e4": 1000, "1e5": 300, "1e6": 500}


def sizes_for(n_sessions: int) -> dict:
    f = n_sessions / PAPER["n_sessions"]
    return {
        "n_therapists": max(2, round(PAPER["n_therapists"] * f)),
        "n_clients": max(2, round(PAPER["n_clients"] * f)),
        "n_sessions": int(n_sessions),
    }


def one(
    size: str,
    device: str,
    draws: int,
    threads: int,
    timeout: float | None,
    target_accept: float | None = None,
    tune: int | None = None,
    chains: int = 4,
) -> dict:
    n = int(float(size))
    sampler = "nutpie" if device == "cpu" else "numpyro"
    job = {
        "model": "homework",
        "simulation": {"sizes": sizes_for(n)},
        "overrides": {
            "sampler": sampler,
            "draws": draws,
            "tune": draws if tune is None else tune,
            "chains": chains,
            "save_group_effects": False,
            "save_log_likelihood": False,
            **({"target_accept": target_accept} if target_accept else {}),
        },
        "threads": threads,
        "cache": str(BENCH_CACHE),
        "label": {"size": size, "device": device, "target_accept": target_accept or "configured"},
    }
    env = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    row = run_worker(COMMON, [json.dumps(job)], env=env, timeout=timeout)
    if device == "gpu" and row["grad_evals"]:  # vectorised chains: one batched gradient per step
        row["ms_per_grad"] = round(1000 * row["sampling_s"] * chains / row["grad_evals"], 4)
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--sizes", nargs="+", default=["1e3", "1e4", "1e5"])
    parser.add_argument("--draws", nargs="*", default=[], help="SIZE=N overrides, e.g. 1e5=300")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per fit")
    parser.add_argument("--target-accept", type=float, default=None, help="default: the configured (0.9)")
    parser.add_argument("--tune", nargs="*", default=[], help="SIZE=N warm-up overrides (default: = draws)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--name", default=None, help="results name (default scaling_<device>)")
    args = parser.parse_args(argv)
    draws = {**DEFAULT_DRAWS, **{k: int(v) for k, v in (d.split("=") for d in args.draws)}}
    tune = {k: int(v) for k, v in (t.split("=") for t in args.tune)}
    rows = []
    for size in args.sizes:
        try:
            rows.append(
                one(
                    size,
                    args.device,
                    draws.get(size, 1000),
                    args.threads,
                    args.timeout,
                    args.target_accept,
                    tune.get(size),
                    args.chains,
                )
            )
        except Exception as exc:  # report and go on: a size that does not finish is a result too
            rows.append({"size": size, "device": args.device, "error": str(exc)[-300:]})
        print(json.dumps(rows[-1]), flush=True)
    notes = (
        f"Study 1 homework model, device={args.device}, threads={args.threads}, "
        f"sampler={'nutpie (default)' if args.device == 'cpu' else 'numpyro, vectorised chains'}, "
        f"{args.chains} chains, draws as stated, save_group_effects and save_log_likelihood false. Host: "
        + os.environ.get("BENCH_HOST", "this machine")
    )
    save(args.name or f"scaling_{args.device}", rows, notes)
    return rows


if __name__ == "__main__":
    main()
