"""Compile a PyMC model for nutpie's numba backend: faster per process, or loaded from disk.

nutpie 0.16.8 copies the gradient into the sampler's buffer with `out[...] = grad`. For that
slice assignment numba compiles, in every new process, the f-string formatting of its CPU
shape-mismatch error: about 3 s of the model job, the same for every model (measured in
`bench/bench_samplers.py`'s compile column). The two C callbacks below are nutpie's own,
copying element by element instead; return codes are unchanged. They replace nutpie's only while
`compile_nutpie_numba` runs, and only for the nutpie version they were written against; any
other version compiles with nutpie's own callbacks.

Compiling the callbacks, which links in PyTensor's whole log-density function, is still most of a
small model's compile (about 4.5 of 6 s for the Study 1 model, when it came here). Given `rebuild` (a picklable function that
builds the same model) they are kept in numba's on-disk cache beside PyTensor's, keyed by the
model function and its data, and a later process loads them (under 0.1 s). A fit then always runs
callbacks loaded from disk: on a miss a child process builds the model with `rebuild()` and
compiles them into the cache first. (The model itself does not travel: a `pm.CustomDist` loses its
log-density registration when pickled.) Callbacks compiled in the sampling process sum
the log density in another order (PyTensor compiles with fastmath): their draws would differ
from a warm run's in the 10th digit, and a cache would change results, not just speed.

Formula models (`build.build_model`) do not come here: nutpie samples them on the generic
kernel (`nutpie_kernel`), which nothing compiles per model. This module serves models with a
graph of their own (Study 2's measurement-error model).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

NUTPIE_VERSION = "0.16.8"
_KEY_PREFIX = "nutpie-"  # of the callbacks' cache keys, and so of their cache files' names


def compile_nutpie_numba(model, *, rebuild: Callable | None = None, **kwargs):
    """`nutpie.compile_pymc_model(model, backend="numba", **kwargs)` with the fast-compiling
    callbacks; with `rebuild` (a picklable function returning this same model) they are loaded
    from numba's on-disk cache, compiled there first on a miss by a child process."""
    if rebuild is None:
        return _compile(model, "compile", kwargs)

    def fill_cache():
        _finish(start_compiling(rebuild, kwargs))

    try:
        return _compile(model, "load", kwargs, fill_cache)
    except (_NotCached, subprocess.CalledProcessError, pickle.PicklingError, TypeError) as error:
        log.warning("nutpie callbacks compiled in this process, not loaded from disk: %s", _reason(error))
        return _compile(model, "save", kwargs)


class _NotCached(Exception):
    """A cacheable callback has no entry in numba's on-disk cache yet."""


def _compile(model, cache_mode: str, kwargs: dict, fill_cache: Callable[[], None] | None = None):
    """cache_mode: "compile" (no disk cache), "load" (cached callbacks only: on a miss
    `fill_cache()` once, then _NotCached if still missing), "save" (numba's cache: load, or
    compile and save)."""
    import nutpie

    with _fast_callbacks(cache_mode, fill_cache):
        return nutpie.compile_pymc_model(model, backend="numba", **kwargs)


def start_compiling(rebuild: Callable, kwargs: dict) -> subprocess.Popen:
    """A fresh Python process (same environment, so the same PyTensor compiledir and
    NUMBA_CACHE_DIR) that builds the model with `rebuild()` and compiles its callbacks into the
    on-disk cache; its stderr goes to a temporary file read by `_finish`."""
    import cloudpickle

    code = (
        "import pickle, sys; sys.path.insert(0, sys.argv[1]);"
        "from homeworkflow.models.backend.nutpie_numba import _compile;"
        "rebuild, kwargs = pickle.load(sys.stdin.buffer); _compile(rebuild(), 'save', kwargs)"
    )
    package_root = str(Path(__file__).resolve().parents[3])
    payload = cloudpickle.dumps((rebuild, kwargs))
    errors = tempfile.TemporaryFile()
    child = subprocess.Popen(
        [sys.executable, "-c", code, package_root], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
    )
    child.stdin.write(payload)
    child.stdin.close()
    child.stderr = errors  # a file, not a pipe: a chatty child cannot block on it
    return child


def _finish(child: subprocess.Popen) -> None:
    """Wait for a compiling process; CalledProcessError (with its stderr) if it failed."""
    if child.wait():
        child.stderr.seek(0)
        raise subprocess.CalledProcessError(child.returncode, child.args, stderr=child.stderr.read())


def _reason(error: Exception) -> str:
    if isinstance(error, subprocess.CalledProcessError):
        lines = error.stderr.decode(errors="replace").strip().splitlines()
        return f"the compiling process failed ({lines[-1] if lines else error.returncode})"
    if isinstance(error, _NotCached):
        return "the compiling process left no cache entry (is PyTensor's compiledir set only in this process?)"
    return f"the model could not be sent to a compiling process ({error})"


@contextlib.contextmanager
def _fast_callbacks(cache_mode: str, fill_cache: Callable[[], None] | None = None):
    import nutpie
    from nutpie import compile_pymc

    if nutpie.__version__ != NUTPIE_VERSION:
        log.info("nutpie %s (not %s): compiling with its own callbacks", nutpie.__version__, NUTPIE_VERSION)
        yield
        return
    import numba

    saved = compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func, numba.cfunc
    compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func = _make_c_logp_func, _make_c_expand_func
    numba.cfunc = _caching_cfunc(numba.cfunc, cache_mode, fill_cache)
    try:
        yield
    finally:
        compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func, numba.cfunc = saved


def _caching_cfunc(cfunc, cache_mode: str, fill_cache: Callable[[], None] | None):
    """`numba.cfunc` as nutpie calls it, using numba's on-disk cache (per `cache_mode`) for the
    callbacks `_bind` gave a key; callbacks without one compile in this process."""
    from numba.core.caching import FunctionCache
    from numba.core.registry import cpu_target
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    fills = [fill_cache] if fill_cache else []

    def cached(fn, sig) -> bool:
        return FunctionCache(fn).load_overload(sig, cpu_target.target_context) is not None

    def decorate(sig, **kwargs):
        def compile_(fn):
            if cache_mode == "compile" or fn not in CACHED_SRC_FUNCTIONS:
                return cfunc(sig, **kwargs)(fn)
            if cache_mode == "load" and not cached(fn, sig):
                if fills:
                    fills.pop()()  # compiles every callback of the model into the cache
                if not cached(fn, sig):
                    raise _NotCached(fn.__name__)
            return cfunc(sig, cache=True, **kwargs)(fn)

        return compile_

    return decorate


def _make_c_logp_func(n_dim, logp_fn, user_data, shared_logp, shared_data):
    """nutpie's logp-and-gradient callback: 0 ok, -1 wrong size, 1 error, 3 gradient or 4 logp not finite."""
    import numba

    extract = _extraction_fn(logp_fn, user_data, shared_logp, shared_data)
    double_ptr = numba.types.CPointer(numba.types.double)
    c_sig = numba.types.int64(numba.types.uint64, double_ptr, double_ptr, double_ptr, numba.types.voidptr)
    key = _cache_key(logp_fn, n_dim, user_data, shared_logp, shared_data)
    return _bind(_logp_callback, key, n_dim=n_dim, extract=extract), c_sig


def _make_c_expand_func(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data):
    """nutpie's callback that maps a point to every saved variable: 0 ok, -1 wrong size, -2 error."""
    import numba

    extract = _extraction_fn(expand_fn, user_data, shared_vars, shared_data)
    double_ptr = numba.types.CPointer(numba.types.double)
    c_sig = numba.types.int64(
        numba.types.uint64, numba.types.uint64, double_ptr, double_ptr, numba.types.voidptr
    )
    key = _cache_key(expand_fn, (n_dim, n_expanded), user_data, shared_vars, shared_data)
    return _bind(_expand_callback, key, n_dim=n_dim, n_expanded=n_expanded, extract=extract), c_sig


def _extraction_fn(inner, user_data, shared_names, shared_data):
    from nutpie.compile_pymc import make_extraction_fn

    return make_extraction_fn(inner, shared_data, shared_names, user_data.dtype)


# The callbacks' globals, bound per model by `_bind` (numba compiles globals in as constants).
n_dim: int
n_expanded: int
extract: Callable


def _logp_callback(dim, x_, out_, logp_, user_data_):
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


def _expand_callback(dim, expanded, x_, out_, user_data_):
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


def _cache_key(inner, sizes, user_data, shared_names, shared_data) -> str | None:
    """A key naming one callback's compiled code: PyTensor's key for the model function it calls
    (None when PyTensor cannot cache that function), with everything else compiled into it."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    inner_key = CACHED_SRC_FUNCTIONS.get(inner.py_func)
    if inner_key is None:
        return None
    shared = [(name, shared_data[name].shape, str(shared_data[name].dtype)) for name in shared_names]
    parts = (NUTPIE_VERSION, inner_key, sizes, str(user_data.dtype), shared)
    return _KEY_PREFIX + hashlib.sha256(repr(parts).encode()).hexdigest()


def _bind(template, cache_key, **names):
    """A copy of `template` reading `names` as its globals, registered with PyTensor's numba cache
    locator under `cache_key` (its on-disk cache entry is then found in any later process)."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    import numba

    fn = types.FunctionType(template.__code__, {**template.__globals__, "numba": numba, **names}, template.__name__)
    if cache_key is not None:
        CACHED_SRC_FUNCTIONS[fn] = cache_key
    return fn
