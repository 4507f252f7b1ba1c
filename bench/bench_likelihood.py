"""Logit and log-link log-likelihoods and their gradient: PyTensor's elementwise graph against a fused Op.

For each family (bernoulli-logit, binomial-logit, poisson-log), size (observations) and backend
(NUMBA: nutpie's; C: PyMC's NUTS), compiles eta -> (sum of log p(y | eta), gradient) both ways and
times calls side by side in one process; reports microseconds per call and the ratio
elementwise / fused (above 1: the fused Op is faster).

    .venv/bin/python bench/bench_likelihood.py [--sizes 680 1e4 1e5] [--calls 2000]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import BENCH_CACHE, save  # noqa: E402

from homeworkflow.models.backend.cache import configure_compile_cache  # noqa: E402


def bernoulli(rng, size):
    """(data, elementwise log-likelihood, fused log-likelihood) of bernoulli-logit: each maps eta to a
    vector; elementwise is PyTensor's y * eta - softplus(eta) (PyMC's Bernoulli with logit_p, simplified)."""
    import numpy as np
    import pytensor.tensor as pt
    from homeworkflow.models.backend.build import bernoulli_logit_logp

    eta = rng.normal(-0.4, 1.2, size)
    y = (rng.random(size) < 1 / (1 + np.exp(-eta))).astype(float)
    return eta, lambda e: y * e - pt.softplus(e), lambda e: bernoulli_logit_logp(y, e)


def binomial(rng, size):
    """The same for binomial-logit; elementwise is the logp of families.Binomial's pm.Binomial(n=trials,
    logit_p=eta)."""
    import numpy as np
    import pymc as pm
    from homeworkflow.models.backend.build import binomial_logit_logp

    eta = rng.normal(-1.0, 1.2, size)
    trials = rng.integers(1, 35, size).astype(float)
    y = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-eta))).astype(float)
    return (
        eta,
        lambda e: pm.logp(pm.Binomial.dist(n=trials, logit_p=e), y),
        lambda e: binomial_logit_logp(y, trials, e),
    )


def poisson(rng, size):
    """The same for poisson-log; elementwise is the logp of families.Poisson's pm.Poisson(mu=exp(eta)),
    fused a prototype Op (`PoissonLog`, below: the workflow has none, see bench/README.md)."""
    import numpy as np
    import pymc as pm
    import pytensor.tensor as pt

    eta = rng.normal(1.0, 0.8, size)
    y = rng.poisson(np.exp(eta)).astype(float)
    return (
        eta,
        lambda e: pm.logp(pm.Poisson.dist(mu=pm.math.exp(e)), y),
        lambda e: poisson_log_op()(pt.as_tensor_variable(y), e)[0] - pt.gammaln(y + 1),
    )


FAMILIES = {"bernoulli-logit": bernoulli, "binomial-logit": binomial, "poisson-log": poisson}


@functools.cache
def poisson_log_op():
    """A fused poisson-log Op, (y * eta - e^eta, y - e^eta) from one exponential, with numba and C kernels
    shaped like models/backend/bernoulli_logit.py's; the gradient reuses the residual."""
    import numpy as np
    from pytensor.graph.basic import Apply
    from pytensor.link.c.op import COp
    from pytensor.link.numba.dispatch import basic as numba_basic
    from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

    from homeworkflow.models.backend.bernoulli_logit import c_vector_outputs

    class PoissonLog(COp):
        __props__ = ()

        def make_node(self, y, eta):
            return Apply(self, [y, eta], [eta.type(), eta.type()])

        def perform(self, node, inputs, outputs):
            y, eta = inputs
            outputs[0][0], outputs[1][0] = y * eta - np.exp(eta), y - np.exp(eta)

        def c_code(self, node, name, inputs, outputs, sub):
            (y, eta), (loglik, residual) = inputs, outputs
            return f"""
            {{
                {c_vector_outputs(eta, loglik, residual, sub["fail"])}
                for (npy_intp i = 0; i < n; ++i) {{
                    double x = *(double*)PyArray_GETPTR1({eta}, i);
                    double yi = *(double*)PyArray_GETPTR1({y}, i);
                    double e = exp(x);
                    ll[i] = yi * x - e;
                    res[i] = yi - e;
                }}
            }}
            """

        def L_op(self, inputs, outputs, output_grads):
            return [output_grads[0] * inputs[1], output_grads[0] * outputs[1]]

    @register_funcify_default_op_cache_key(PoissonLog)
    def _numba_poisson_log(op, node=None, **kwargs):
        @numba_basic.numba_njit
        def poisson_log_kernel(y, eta):
            n = eta.shape[0]
            loglik = np.empty(n, dtype=eta.dtype)
            residual = np.empty(n, dtype=eta.dtype)
            for i in range(n):
                e = np.exp(eta[i])
                loglik[i] = y[i] * eta[i] - e
                residual[i] = y[i] - e
            return loglik, residual

        return poisson_log_kernel, 1

    return PoissonLog()


def compile_value_and_grad(loglik, mode: str):
    import pytensor
    import pytensor.tensor as pt

    eta = pt.dvector("eta")
    total = loglik(eta).sum()
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
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--name", default="likelihood_kernel")
    args = parser.parse_args(argv)
    configure_compile_cache(BENCH_CACHE)
    import numpy as np
    from threadpoolctl import threadpool_limits

    rows = []
    for family in args.families:
        rng = np.random.default_rng(1)
        for size in (int(float(s)) for s in args.sizes):
            eta, elementwise_loglik, fused_loglik = FAMILIES[family](rng, size)
            calls = max(20, args.calls * 680 // size)
            for mode in ("NUMBA", "FAST_RUN"):
                elementwise = compile_value_and_grad(elementwise_loglik, mode)
                fused = compile_value_and_grad(fused_loglik, mode)
                np.testing.assert_allclose(fused(eta)[0], elementwise(eta)[0], rtol=1e-10)
                np.testing.assert_allclose(fused(eta)[1], elementwise(eta)[1], rtol=1e-10, atol=1e-12)
                with threadpool_limits(1):
                    times = {"elementwise": us_per_call(elementwise, eta, calls)}
                    times["fused"] = us_per_call(fused, eta, calls)
                rows.append(
                    {
                        "family": family,
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
        "Python call overhead included (about 1 us for numba, more for C). elementwise: PyTensor's rewrites "
        "of bernoulli-logit y * eta - softplus(eta), binomial-logit pm.Binomial(n=trials, logit_p=eta) (trials "
        "1-34) and poisson-log pm.Poisson(mu=exp(eta)), as models/spec/families.py writes them; fused: the "
        "workflow's bernoulli_logit_logp and binomial_logit_logp (models/backend/bernoulli_logit.py), and for "
        "poisson-log the benchmark's prototype Op (y * eta - e^eta from one exponential)."
    )
    save(args.name, rows, notes)
    return rows


if __name__ == "__main__":
    main()
