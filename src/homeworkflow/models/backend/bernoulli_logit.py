"""The Bernoulli-logit log-likelihood as one PyTensor Op with a fused numba kernel.

Per observation the logistic models need log p(y | eta) = y * eta - log(1 + e^eta) and, for the
gradient, its derivative y - sigmoid(eta). PyTensor's elementwise graph computes softplus and
sigmoid separately: two exponentials, a log1p and a division per observation, the larger part of
Study 1's gradient. `bernoulli_logit(y, eta)` returns both from one exponential and one logarithm,
and its gradient reuses the derivative it already computed (bench/results/likelihood_kernel.md).

The same loop serves nutpie (numba kernel, cached on disk like the rest of the model function) and
PyMC's NUTS (C code); `perform` (NumPy) is the reference; numpyro gets a JAX implementation once
`register_jax` is called.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.utils import MethodNotDefined
from pytensor.link.c.op import COp
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

KERNEL_VERSION = 1  # bump when the numba or C kernel changes, so cached compilations are not reused


class BernoulliLogit(COp):
    """(loglik, residual) = (y * eta - log(1 + e^eta), y - sigmoid(eta)), elementwise on vectors."""

    __props__ = ()

    def make_node(self, y, eta):
        eta = pt.as_tensor_variable(eta)
        y = pt.cast(pt.as_tensor_variable(y), eta.dtype)
        if eta.ndim != 1 or y.ndim != 1:
            raise TypeError(f"bernoulli_logit takes vectors, got y.ndim={y.ndim}, eta.ndim={eta.ndim}")
        return Apply(self, [y, eta], [eta.type(), eta.type()])

    def perform(self, node, inputs, outputs):
        y, eta = inputs
        loglik, residual = bernoulli_logit_numpy(y, eta)
        outputs[0][0] = loglik
        outputs[1][0] = residual

    def c_code(self, node, name, inputs, outputs, sub):
        if node.inputs[1].dtype != "float64":
            raise MethodNotDefined("bernoulli_logit has C code for float64 only")
        y, eta = inputs
        loglik, residual = outputs
        fail = sub["fail"]
        return f"""
        {{
            npy_intp n = PyArray_DIMS({eta})[0];
            PyArrayObject** outs[2] = {{&{loglik}, &{residual}}};
            for (int k = 0; k < 2; ++k) {{
                PyArrayObject* o = *outs[k];
                if (!o || PyArray_DIMS(o)[0] != n || !PyArray_IS_C_CONTIGUOUS(o)) {{
                    Py_XDECREF(o);
                    *outs[k] = (PyArrayObject*)PyArray_EMPTY(1, &n, NPY_FLOAT64, 0);
                    if (!*outs[k]) {{ {fail} }}
                }}
            }}
            double* ll = (double*)PyArray_DATA({loglik});
            double* res = (double*)PyArray_DATA({residual});
            for (npy_intp i = 0; i < n; ++i) {{
                double x = *(double*)PyArray_GETPTR1({eta}, i);
                double yi = *(double*)PyArray_GETPTR1({y}, i);
                if (x > 0.0) {{
                    double denom = 1.0 + exp(-x);
                    ll[i] = (yi - 1.0) * x - log(denom);
                    res[i] = yi - 1.0 / denom;
                }} else {{
                    double e = exp(x), denom = 1.0 + e;
                    ll[i] = yi * x - log(denom);
                    res[i] = yi - e / denom;
                }}
            }}
        }}
        """

    def c_code_cache_version(self):
        return (KERNEL_VERSION,)

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1], input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        y, eta = inputs
        _, residual = outputs
        g_loglik, g_residual = output_grads
        grad_y, grad_eta = [], []
        if not isinstance(g_loglik.type, DisconnectedType):
            grad_y.append(g_loglik * eta)
            grad_eta.append(g_loglik * residual)
        if not isinstance(g_residual.type, DisconnectedType):
            prob = y - residual  # sigmoid(eta)
            grad_y.append(g_residual)
            grad_eta.append(-g_residual * prob * (1.0 - prob))
        return [pt.add(*grad_y), pt.add(*grad_eta)]


bernoulli_logit_op = BernoulliLogit()


def bernoulli_logit(y, eta):
    """(loglik, residual) of `BernoulliLogit` for y and eta of any broadcastable shapes."""
    y, eta = pt.as_tensor_variable(y), pt.as_tensor_variable(eta)
    if y.type.shape == eta.type.shape and y.ndim == 1:
        return bernoulli_logit_op(y, eta)
    y, eta = pt.broadcast_arrays(y, eta)
    return tuple(out.reshape(eta.shape) for out in bernoulli_logit_op(y.ravel(), eta.ravel()))


def bernoulli_logit_numpy(y: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Op's outputs in NumPy (stable for any eta)."""
    loglik = y * eta - np.logaddexp(0.0, eta)
    residual = y - 0.5 * (1.0 + np.tanh(0.5 * eta))
    return loglik, residual


@register_funcify_default_op_cache_key(BernoulliLogit)
def _numba_bernoulli_logit(op, node=None, **kwargs):
    @numba_basic.numba_njit
    def bernoulli_logit_kernel(y, eta):
        n = eta.shape[0]
        loglik = np.empty(n, dtype=eta.dtype)
        residual = np.empty(n, dtype=eta.dtype)
        for i in range(n):
            x = eta[i]
            # e = exp(-|x|) never overflows; log(1 + e^x) = max(x, 0) + log(1 + e).
            if x > 0.0:
                e = np.exp(-x)
                denom = 1.0 + e
                loglik[i] = (y[i] - 1.0) * x - np.log(denom)
                residual[i] = y[i] - 1.0 / denom
            else:
                e = np.exp(x)
                denom = 1.0 + e
                loglik[i] = y[i] * x - np.log(denom)
                residual[i] = y[i] - e / denom
        return loglik, residual

    return bernoulli_logit_kernel, KERNEL_VERSION


def register_jax() -> None:
    """Give the Op a JAX implementation (imports JAX: call it only on the numpyro path)."""
    import jax
    import jax.numpy as jnp
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(BernoulliLogit)
    def _jax_bernoulli_logit(op, **kwargs):
        def bernoulli_logit_jax(y, eta):
            return y * eta - jnp.logaddexp(0.0, eta), y - jax.nn.sigmoid(eta)

        return bernoulli_logit_jax
