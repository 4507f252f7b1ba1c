"""nutpie on the generic kernel (`kernel.logp_and_grad`): no per-model compile.

nutpie calls two C callbacks: the log density with its gradient, and the map from a point to the
variables it saves. Both are compiled here once per machine into numba's on-disk cache (the
kernel's and these callbacks' code depends on no model), and read the model from `user_data`:
four int64, the address and length of the packed model's float and integer arrays. The saved
variables are the unconstrained point itself; `constrained_posterior` turns the draws into the
model's variables (transformed back, and the deterministics) with PyTensor's Python linker,
vectorised over the draws, so nothing is compiled there either.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import types
from nutpie.compile_pymc import address_as_void_pointer

from .kernel import H_DIM, Packed, logp_and_grad


def _kernel_logp(dim, x_, out_, logp_, user_data_):
    """nutpie's log-density callback: the kernel on the packed model that `user_data_` addresses."""
    arrays = numba.carray(user_data_, (4,), np.int64)
    fdata = numba.carray(address_as_void_pointer(arrays[0]), (arrays[1],), np.float64)
    idata = numba.carray(address_as_void_pointer(arrays[2]), (arrays[3],), np.int64)
    if dim != idata[H_DIM]:
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    logp = numba.carray(logp_, (1,))
    value = logp_and_grad(x, out, fdata, idata)
    logp[0] = value
    for i in range(dim):
        if not np.isfinite(out[i]):
            return 3
    if not np.isfinite(value):
        return 4
    return 0


def _kernel_expand(dim, expanded, x_, out_, user_data_):
    """nutpie's expand callback: the saved values are the unconstrained point itself."""
    if dim != expanded:
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (expanded,))
    for i in range(dim):
        out[i] = x[i]
    return 0


@functools.cache
def _callbacks():
    """(logp callback, expand callback), compiled once per machine and loaded from numba's disk
    cache after that. The functions live at module level: numba keys a closure's cache entry on
    its pickled cells, which differ in every process, so a nested function would compile anew in
    every job (1.4 s) and add an entry to the cache each time."""
    double_ptr = types.CPointer(types.double)
    logp_sig = types.int64(types.uint64, double_ptr, double_ptr, double_ptr, types.voidptr)
    expand_sig = types.int64(types.uint64, types.uint64, double_ptr, double_ptr, types.voidptr)
    return numba.cfunc(logp_sig, cache=True)(_kernel_logp), numba.cfunc(expand_sig, cache=True)(_kernel_expand)


def compile_kernel_model(model, packed: Packed):
    """A nutpie compiled model of `model` (built by `build.build_model`) whose log density is the
    generic kernel on `packed`; it saves the unconstrained point (`constrained_posterior`)."""
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _prepare_dims_and_coords,
        _rv_dict_to_flat_array_wrapper,
        _wrap_with_lock,
    )
    from pymc.initial_point import make_initial_point_fn

    logp_callback, expand_callback = _callbacks()
    point = model.initial_point()
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    shapes = [tuple(point[name].shape) for name in names]
    slices, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        slices.append(slice(start, start + size))
        start += size
    if start != packed.n_dim:
        raise ValueError(f"the packed model has {packed.n_dim} unconstrained values, the PyMC model {start}")
    shape_info = (names, slices, shapes)
    user_data = np.array(
        [packed.fdata.ctypes.data, packed.fdata.size, packed.idata.ctypes.data, packed.idata.size], dtype=np.int64
    )
    initial = make_initial_point_fn(
        model=model, jitter_rvs=set(model.free_RVs), return_transformed=True, default_strategy="support_point"
    )
    initial_point_fn = _wrap_with_lock(_rv_dict_to_flat_array_wrapper(initial, names=names, shapes=shapes))
    dims, coords = _prepare_dims_and_coords(model, shape_info)
    return CompiledPyMCModel(
        _n_dim=packed.n_dim,
        dims=dims,
        _coords=coords,
        _shapes=dict(zip(names, shapes)),
        compiled_logp_func=logp_callback,
        compiled_expand_func=expand_callback,
        initial_point_func=initial_point_fn,
        shared_data={"fdata": packed.fdata, "idata": packed.idata},  # kept alive beside user_data's addresses
        user_data=user_data,
        n_expanded=packed.n_dim,
        shape_info=shape_info,
        logp_func=packed.logp_and_grad,
        expand_func=lambda x: (x,),
    )


def constrained_posterior(model, posterior):
    """The model's variables (free variables on their own scale, and the deterministics) at every
    draw of `posterior`, which holds the unconstrained values nutpie saved under the value
    variables' names: PyTensor's graph of them, vectorised over the draws and run by its Python
    linker (nothing compiled)."""
    import pytensor
    import pytensor.tensor as pt
    import xarray as xr
    from pytensor.compile.mode import Mode
    from pytensor.graph.replace import vectorize_graph

    value_vars = [model.rvs_to_values[rv] for rv in model.free_RVs]
    outputs = [v for v in model.unobserved_value_vars if v not in value_vars]
    batched = [pt.tensor(dtype=v.dtype, shape=(None, *v.type.shape), name=v.name) for v in value_vars]
    vectorised = vectorize_graph(outputs, replace=dict(zip(value_vars, batched)))
    fn = pytensor.function(batched, vectorised, mode=Mode(linker="py", optimizer="fast_compile"), on_unused_input="ignore")
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    inputs = [posterior[v.name].to_numpy().reshape(chains * draws, *posterior[v.name].shape[2:]) for v in value_vars]
    variables = {}
    untransformed = [(v, posterior[v.name].to_numpy()) for v in model.unobserved_value_vars if v in value_vars]
    computed = [(v, np.reshape(values, (chains, draws, *np.shape(values)[1:]))) for v, values in zip(outputs, fn(*inputs))]
    for var, values in [*untransformed, *computed]:
        dims = model.named_vars_to_dims.get(var.name) or tuple(f"{var.name}_dim_{i}" for i in range(values.ndim - 2))
        variables[var.name] = (("chain", "draw", *dims), values)
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    for dims in model.named_vars_to_dims.values():
        for dim in dims or ():
            if dim in model.coords and model.coords[dim] is not None:
                coords[dim] = list(model.coords[dim])
    return xr.Dataset(variables, coords=coords, attrs=posterior.attrs)
