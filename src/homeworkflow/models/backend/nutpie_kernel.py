"""nutpie on the generic kernel (`kernel.logp_and_grad`): no per-model compile.

nutpie calls two C callbacks (`kernel.c_callbacks`, compiled once per machine): the log density
with its gradient, and the map from a point to the variables it saves. They read the model from
`user_data`: four int64, the address and length of the packed model's float and integer arrays.
The saved variables are the unconstrained point itself; `constrained_posterior` turns the draws into the
model's variables (transformed back, and the deterministics) with PyTensor's Python linker,
vectorised over the draws, so nothing is compiled there either.
"""

from __future__ import annotations

import numpy as np

from .kernel import Packed, c_callbacks


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

    logp_callback, expand_callback = c_callbacks()
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
