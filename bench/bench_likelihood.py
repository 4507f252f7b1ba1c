"""The Bernoulli-logit log-likelihood and its gradient: PyTensor's elementwise graph against the fused Op.

For each size (observations) and backend (NUMBA: nutpie's; C: PyMC's NUTS), compiles
eta -> (sum of log p(y | eta), gradient) both ways and times calls side by side in one process;
reports microseconds per call and the ratio elementwise / fused (above 1: the Op is faster).

    .venv/bin/python bench/bench_likelihood.py [--sizes 680 1e4 1e5] [--calls 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import BENCH_CACHE, save  # noqa: E402

from homeworkflow.models.backend.cache import configure_compile_cache  # noqa: E402


def elementwise_loglik(y, eta):
    """PyTensor's own formulation (what PyMC's Bernoulli with logit_p compiles to, simplified)."""
    import pytensor.tensor as pt

    return y * eta - pt.softplus(eta)


def compile_value_and_grad(loglik, y, mode: str):
    import pytensor
    import pytensor.tensor as pt

    eta = pt.dvector("eta")
    total = loglik(y, eta).sum()
    return pytensor.function([eta], [total, pytensor.grad(total, eta)], mode=mode)


def us_per_call(fn, eta, calls: int) -> float:
    fn(eta)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            fn(eta)
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["680", "1e4", "1e5"])
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing at 680 (fewer when larger)")
    parser.add_argument("--name", default="likelihood_kernel")
    args = parser.parse_args(argv)
    configure_compile_cache(BENCH_CACHE)
    import numpy as np
    from homeworkflow.models.backend.build import bernoulli_logit_logp
    from threadpoolctl import threadpool_limits

    rows = []
    rng = np.random.default_rng(1)
    for size in (int(float(s)) for s in args.sizes):
        eta = rng.normal(-0.4, 1.2, size)
        y = (rng.random(size) < 1 / (1 + np.exp(-eta))).astype(float)
        calls = max(20, args.calls * 680 // size)
        for mode in ("NUMBA", "FAST_RUN"):
            elementwise = compile_value_and_grad(elementwise_loglik, y, mode)
            fused = compile_value_and_grad(bernoulli_logit_logp, y, mode)
            np.testing.assert_allclose(fused(eta)[1], elementwise(eta)[1], rtol=1e-10, atol=1e-12)
            with threadpool_limits(1):
                times = {"elementwise": us_per_call(elementwise, eta, calls)}
                times["fused"] = us_per_call(fused, eta, calls)
            rows.append(
                {
                    "n_obs": size,
                    "backend": "numba (nutpie)" if mode == "NUMBA" else "C (PyMC)",
                    "elementwise_us": round(times["elementwise"], 2),
                    "fused_us": round(times["fused"], 2),
                    "elementwise_over_fused": round(times["elementwise"] / times["fused"], 2),
                }
            )
            print(rows[-1], flush=True)
    notes = (
        "Value and gradient of sum(log p(y | eta)) with respect to eta, one thread, best of 3 timings, "
        "Python call overhead included (about 1 us for numba, more for C). elementwise: y * eta - "
        "softplus(eta), PyTensor's rewrites; fused: the workflow's bernoulli_logit_logp "
        "(models/backend/bernoulli_logit.py)."
    )
    save(args.name, rows, notes)
    return rows


if __name__ == "__main__":
    main()
