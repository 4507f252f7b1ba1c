"""Compile a PyMC model for nutpie's numba backend, about 3 s faster per process.

nutpie 0.16.8 copies the gradient into the sampler's buffer with `out[...] = grad`. For that
slice assignment numba compiles, in every new process, the f-string formatting of its CPU
shape-mismatch error: about 3 s of the model job, the same for every model (measured in
`bench/bench_samplers.py`'s compile column). The two C callbacks below are nutpie's own,
copying element by element instead; return codes are unchanged. They replace nutpie's only while
`compile_nutpie_numba` runs, and only for the nutpie version they were written against; any
other version compiles with nutpie's own callbacks.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

log = logging.getLogger(__name__)

NUTPIE_VERSION = "0.16.8"


def compile_nutpie_numba(model, **kwargs):
    """`nutpie.compile_pymc_model(model, backend="numba", **kwargs)`, with the fast-compiling callbacks."""
    import nutpie

    with _fast_callbacks():
        return nutpie.compile_pymc_model(model, backend="numba", **kwargs)


@contextlib.contextmanager
def _fast_callbacks():
    import nutpie
    from nutpie import compile_pymc

    if nutpie.__version__ != NUTPIE_VERSION:
        log.info("nutpie %s (not %s): compiling with its own callbacks", nutpie.__version__, NUTPIE_VERSION)
        yield
        return
    saved = compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func
    compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func = _make_c_logp_func, _make_c_expand_func
    try:
        yield
    finally:
        compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func = saved


def _make_c_logp_func(n_dim, logp_fn, user_data, shared_logp, shared_data):
    """nutpie's logp-and-gradient callback: 0 ok, -1 wrong size, 1 error, 3 gradient or 4 logp not finite."""
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(logp_fn, shared_data, shared_logp, user_data.dtype)
    double_ptr = numba.types.CPointer(numba.types.double)
    c_sig = numba.types.int64(numba.types.uint64, double_ptr, double_ptr, double_ptr, numba.types.voidptr)

    def logp_numba(dim, x_, out_, logp_, user_data_):
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_dim,))
            logp = numba.carray(logp_, ())
            logp_val, grad = extract(x, user_data_)
            logp[()] = logp_val
            finite = True
            for i in range(n_dim):
                out[i] = grad[i]
                finite = finite and np.isfinite(grad[i])
            if not finite:
                return 3
            if not np.isfinite(logp_val):
                return 4
        except Exception:  # noqa: BLE001 (a C callback reports errors as codes)
            return 1
        return 0

    return logp_numba, c_sig


def _make_c_expand_func(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data):
    """nutpie's callback that maps a point to every saved variable: 0 ok, -1 wrong size, -2 error."""
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(expand_fn, shared_data, shared_vars, user_data.dtype)
    double_ptr = numba.types.CPointer(numba.types.double)
    c_sig = numba.types.int64(
        numba.types.uint64, numba.types.uint64, double_ptr, double_ptr, numba.types.voidptr
    )

    def expand_numba(dim, expanded, x_, out_, user_data_):
        if dim != n_dim:
            return -1
        if expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_expanded,))
            (values,) = extract(x, user_data_)
            for i in range(n_expanded):
                out[i] = values[i]
        except Exception:  # noqa: BLE001
            return -2
        return 0

    return expand_numba, c_sig
