"""Where a large fit's gradients go: NUTS trajectory lengths in warm-up and sampling, per chain,
and the in-sampler cost of one gradient with 1 chain on 1 core against 2 chains on 2 cores.

    .venv/bin/python bench/bench_trajectories.py --size 1e5 --tune 200 --draws 100

The Study 1 `homework` model on simulated data scaled to `--size` sessions (as bench_scaling.py),
compiled once, then sampled with nutpie (the configured mass matrix), warm-up kept:
    rows "chains=1 cores=1" and "chains=2 cores=2": `--check-draws` warm-up and draws each; if
        two chains side by side cost no more per gradient than one alone, ms_per_grad is equal;
    row "chains=C cores=T": the full run, with mean and percentiles of leapfrog steps per
        iteration in warm-up and sampling, and the deepest tree.
    `--target-accept 0.8 0.9`: one full run per value (default: the configured `target_accept`,
        as the workflow samples; nutpie's own default is 0.8).
A fit that does not finish in 20 minutes says why here: steps per iteration times ms per gradient.
Sampling runs with one BLAS thread, as in the workflow (`one_blas_thread`); `--blas-default`
leaves OpenBLAS its default (a thread per core in every chain) to show what that costs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scaling import sizes_for  # noqa: E402
from common import BENCH_CACHE, ROOT, load_config, model_data, model_spec, save  # noqa: E402


def compiled_homework(n_sessions: int):
    """The configured homework model on simulated data of `n_sessions`, compiled for nutpie."""
    import warnings

    sys.path.insert(0, str(ROOT / "src"))
    warnings.simplefilter("ignore")
    from homeworkflow.models.backend.cache import configure_compile_cache

    configure_compile_cache(BENCH_CACHE)
    from homeworkflow.models.backend.build import build_model
    from homeworkflow.models.spec.formula import build_design
    from homeworkflow.models.backend.nutpie_numba import compile_nutpie_numba
    from homeworkflow.models.spec.priors import resolve_priors

    config = load_config()
    spec = model_spec("homework", config)
    data = model_data("homework", config, {"sizes": sizes_for(n_sessions)})
    design = build_design(data, spec.formula, spec.family, spec.reference_levels)
    priors = resolve_priors(spec.family, spec.priors, design.terms, [e.label for e in design.group_effects])
    start = time.perf_counter()
    compiled = compile_nutpie_numba(build_model(design, spec.family, priors))
    return spec, compiled, time.perf_counter() - start


def trajectory_row(
    spec, compiled, chains: int, cores: int, tune: int, draws: int, blas_default: bool, target_accept: float
) -> dict:
    """Sample and summarise leapfrog steps per iteration; ms_per_grad = wall x parallel chains / grads."""
    from contextlib import nullcontext

    import nutpie
    import numpy as np

    from homeworkflow.models.backend.sampling import one_blas_thread

    start = time.perf_counter()
    with nullcontext() if blas_default else one_blas_thread():
        idata = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            seed=spec.seed,
            target_accept=target_accept,
            low_rank_modified_mass_matrix=spec.mass_matrix == "low_rank",
            save_warmup=True,
            progress_bar=False,
        )
    wall = time.perf_counter() - start
    warm, post = (idata[g]["n_steps"].to_numpy() for g in ("warmup_sample_stats", "sample_stats"))
    grads = int(warm.sum() + post.sum())
    return {
        "run": f"chains={chains} cores={cores}",
        "blas_threads": "default" if blas_default else 1,
        "target_accept": target_accept,
        "tune+draws": f"{tune}+{draws}",
        "wall_s": round(wall, 1),
        "grads": grads,
        "ms_per_grad": round(1000 * wall * min(chains, cores) / grads, 3),
        "warmup_steps_mean": round(float(warm.mean()), 1),
        "warmup_steps_p10_50_90": [int(q) for q in np.percentile(warm, [10, 50, 90])],
        "sampling_steps_mean": round(float(post.mean()), 1),
        "sampling_steps_p10_50_90": [int(q) for q in np.percentile(post, [10, 50, 90])],
        "max_depth": int(max(idata[g]["depth"].max() for g in ("warmup_sample_stats", "sample_stats"))),
        "final_step_size": round(float(idata.sample_stats["step_size"].isel(draw=-1).mean()), 4),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1e5")
    parser.add_argument("--tune", type=int, default=200)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check-draws", type=int, default=20, help="warm-up and draws of the 1- vs 2-chain rows (0: none)")
    parser.add_argument(
        "--target-accept", type=float, nargs="+", default=None, help="one full run each (default: the configured)"
    )
    parser.add_argument("--blas-default", action="store_true", help="OpenBLAS's own thread count while sampling")
    parser.add_argument("--name", default=None, help="results name (default trajectories_<size>)")
    args = parser.parse_args(argv)
    spec, compiled, compile_s = compiled_homework(int(float(args.size)))
    configured = spec.target_accept
    rows = [
        trajectory_row(spec, compiled, k, k, args.check_draws, args.check_draws, args.blas_default, configured)
        for k in (1, 2)
        if args.check_draws
    ]
    for target in args.target_accept or [configured]:
        rows.append(
            trajectory_row(spec, compiled, args.chains, args.threads, args.tune, args.draws, args.blas_default, target)
        )
    notes = (
        f"Study 1 homework model, {args.size} sessions, nutpie ({spec.mass_matrix} mass matrix), "
        f"compiled once ({compile_s:.1f} s). Steps = leapfrog steps (gradients) per iteration."
    )
    save(args.name or f"trajectories_{args.size}", rows, notes)
    return rows


if __name__ == "__main__":
    main()
