"""Run one of the NUTS samplers (nutpie, PyMC, numpyro) on a built model, with wall-clock timings.

Compile caches: call `homeworkflow.models.configure_compile_cache` before this module is imported.

nutpie's chains get the job's cores; BLAS gets one thread while they sample (`one_blas_thread`;
PyMC's and numpyro's samplers are left as they come, PyMC's being the benchmarks' reference). The
gradient's matrix products call OpenBLAS, which otherwise starts a thread per core in every
chain: at 1e5 sessions two nutpie chains on 2 cores then took 15.3 ms per gradient each, against
6.2 ms with one BLAS thread (bench/results/trajectories_1e5*.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import arviz as az
import pymc as pm
from threadpoolctl import threadpool_limits

from ..spec.model import ModelSpec
from .kernel import Packed

log = logging.getLogger(__name__)


def run_sampler(
    model: pm.Model, spec: ModelSpec, threads: int, packed: Packed | None = None
) -> tuple[az.InferenceData, dict]:
    """Sample the posterior; returns the InferenceData (posterior, sample_stats) and timings in seconds.
    nutpie samples on the generic kernel (`backend.kernel`), so `packed` (the model packed for
    it) is required there; PyMC and numpyro sample `model`."""
    start = time.perf_counter()
    if spec.sampler == "nutpie":
        idata, compile_s, sampling_s = _nutpie(model, spec, threads, packed)
    else:
        idata = _pymc(model, spec, threads)
        sampling_s = float(idata.posterior.attrs.get("sampling_time", float("nan")))
        compile_s = time.perf_counter() - start - sampling_s
    timings = {
        "compile_s": compile_s,
        "sampling_s": sampling_s,
        "sampler_total_s": time.perf_counter() - start,
    }
    log.info(
        "%s: %s sampled in %.1f s (compile and setup %.1f s)", spec.name, spec.sampler, sampling_s, compile_s
    )
    return idata, timings


def one_blas_thread():
    """Context manager: BLAS libraries loaded in this process use one thread inside it (enter it
    after compiling: threadpoolctl limits only the libraries loaded when it is entered)."""
    return threadpool_limits(limits=1, user_api="blas")


def nutpie_sample(
    model: pm.Model,
    *,
    seed: int,
    rebuild: Callable | None = None,
    var_names: list[str] | None = None,
    **options,
) -> tuple[az.InferenceData, float, float]:
    """nutpie on a model's own PyTensor graph, through the numba callbacks (`compile_nutpie_numba`;
    `rebuild`: from the disk cache), BLAS on one thread while the chains sample; `var_names`: the
    variables kept (default all); `options`: nutpie.sample's own (draws, tune, chains, cores, ...).
    Returns (idata, compile s, sampling s). For models `build_model` does not build (Study 2's
    measurement-error model)."""
    from .nutpie_numba import compile_nutpie_numba

    start = time.perf_counter()
    kept = {} if var_names is None else {"var_names": var_names}
    compiled = compile_nutpie_numba(model, rebuild=rebuild, **kept)
    return _sample_compiled(compiled, seed, options, start)


def kernel_sample(model: pm.Model, packed: Packed, *, seed: int, **options) -> tuple[az.InferenceData, float, float]:
    """nutpie on the generic kernel (nothing compiled per model): `packed` from `kernel.pack` for
    `model`, the posterior mapped back to the model's variables. Returns (idata, compile s, sampling s)."""
    from .nutpie_kernel import compile_kernel_model, constrained_posterior

    start = time.perf_counter()
    idata, compile_s, sampling_s = _sample_compiled(compile_kernel_model(model, packed), seed, options, start)
    idata.posterior = constrained_posterior(model, idata.posterior)
    return idata, compile_s, sampling_s


def _sample_compiled(compiled, seed: int, options: dict, start: float) -> tuple[az.InferenceData, float, float]:
    import nutpie

    compiled_at = time.perf_counter()
    with one_blas_thread():
        idata = nutpie.sample(compiled, seed=seed, **options, save_warmup=False, progress_bar=False)
    return idata, compiled_at - start, time.perf_counter() - compiled_at


def pymc_sample(model: pm.Model, *, seed: int, **options) -> az.InferenceData:
    """PyMC's NUTS (or, through `options`, another of PyMC's NUTS samplers) on a built model,
    without a progress bar; `options`: pm.sample's own (draws, tune, chains, cores, ...). Shared by
    `run_sampler` and Study 2's measurement-error model."""
    return pm.sample(random_seed=seed, progressbar=False, model=model, **options)


def _spec_options(spec: ModelSpec, threads: int) -> dict:
    return {
        "draws": spec.draws,
        "tune": spec.tune,
        "chains": spec.chains,
        "cores": threads,
        "seed": spec.seed,
        "target_accept": spec.target_accept,
    }


def _nutpie(model: pm.Model, spec: ModelSpec, threads: int, packed: Packed | None):
    if packed is None:
        raise ValueError("nutpie samples on the generic kernel: run_sampler needs the packed model")
    return kernel_sample(
        model, packed, low_rank_modified_mass_matrix=spec.mass_matrix == "low_rank", **_spec_options(spec, threads)
    )


def _pymc(model: pm.Model, spec: ModelSpec, threads: int) -> az.InferenceData:
    kwargs = {}
    if spec.sampler == "numpyro":
        from .bernoulli_logit import register_jax

        register_jax()
        kwargs = {
            "nuts_sampler": "numpyro",
            "nuts_sampler_kwargs": {"chain_method": _numpyro_chain_method(threads)},
        }
    return pymc_sample(model, compute_convergence_checks=False, **_spec_options(spec, threads), **kwargs)


def _numpyro_chain_method(threads: int) -> str:
    """Vectorised chains on a GPU; on CPU parallel chains, or sequential ones (3x faster than vectorised here)."""
    import numpyro

    if threads > 1:
        numpyro.set_host_device_count(threads)  # takes effect only before JAX starts its CPU backend
    import jax

    if jax.default_backend() != "cpu":
        return "vectorized"
    return "parallel" if threads > 1 else "sequential"
