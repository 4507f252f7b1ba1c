"""The Bernoulli- and binomial-logit log-likelihoods as PyTensor Ops with one fused kernel.

Per observation the logistic models need log p(y | n, eta) = y * eta - n * log(1 + e^eta) (plus
log C(n, y) for the binomial) and, for the gradient, its derivative y - n * sigmoid(eta). PyTensor's
elementwise graph computes softplus and sigmoid separately: two exponentials, a log1p and a
division per observation (pm.Binomial's graph two softplus and more), the larger part of the
gradient. `bernoulli_logit(y, eta)` and `binomial_logit(y, trials, eta)` return both from one
exponential and one logarithm, and their gradient reuses the derivative already computed
(bench/results/likelihood_kernel.md). The Bernoulli Op is the binomial one with n = 1 fixed in the
kernel, where the compilers drop the multiplications by 1 (its results are those of a kernel
without n, to the bit).

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

KERNEL_VERSION = 2  # bump when the numba or C kernel changes, so cached compilations are not reused



def c_vector_outputs(eta: str, loglik: str, residual: str, fail: str) -> str:
    """C code declaring `n` (the length of vector `eta`) and `ll`, `res` (the data of two float64
    outputs of that length, allocated unless the ones given fit)."""
    return f"""
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
            double* res = (double*)PyArray_DATA({residual});"""


class BinomialLogit(COp):
    """(loglik, residual) = (y * eta - n * log(1 + e^eta), y - n * sigmoid(eta)), elementwise on
    vectors y, n (trials) and eta; inputs (y, trials, eta)."""

    __props__ = ()
    has_trials = True

    def make_node(self, *inputs):
        *data, eta = map(pt.as_tensor_variable, inputs)
        data = [pt.cast(value, eta.dtype) for value in data]
        if len(data) != 1 + self.has_trials or any(v.ndim != 1 for v in (*data, eta)):
            raise TypeError(f"{type(self).__name__} takes vectors {self.input_names()}, got {inputs}")
        return Apply(self, [*data, eta], [eta.type(), eta.type()])

    def input_names(self) -> tuple[str, ...]:
        return ("y", "trials", "eta") if self.has_trials else ("y", "eta")

    def trials(self, inputs):
        """The trials among the Op's inputs (a variable or an array), 1.0 for the Bernoulli Op."""
        return inputs[1] if self.has_trials else 1.0

    def perform(self, node, inputs, outputs):
        loglik, residual = binomial_logit_numpy(inputs[0], self.trials(inputs), inputs[-1])
        outputs[0][0] = loglik
        outputs[1][0] = residual

    def c_code(self, node, name, inputs, outputs, sub):
        if node.inputs[-1].dtype != "float64":
            raise MethodNotDefined(f"{type(self).__name__} has C code for float64 only")
        y, eta = inputs[0], inputs[-1]
        trials = f"*(double*)PyArray_GETPTR1({inputs[1]}, i)" if self.has_trials else "1.0"
        loglik, residual = outputs
        fail = sub["fail"]
        return f"""
        {{
            {c_vector_outputs(eta, loglik, residual, fail)}
            for (npy_intp i = 0; i < n; ++i) {{
                double x = *(double*)PyArray_GETPTR1({eta}, i);
                double yi = *(double*)PyArray_GETPTR1({y}, i);
                double ni = {trials};
                if (x > 0.0) {{
                    double denom = 1.0 + exp(-x);
                    ll[i] = (yi - ni) * x - ni * log(denom);
                    res[i] = yi - ni / denom;
                }} else {{
                    double e = exp(x), denom = 1.0 + e;
                    ll[i] = yi * x - ni * log(denom);
                    res[i] = yi - ni * e / denom;
                }}
            }}
        }}
        """

    def c_code_cache_version(self):
        return (KERNEL_VERSION,)

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[-1], input_shapes[-1]]

    def L_op(self, inputs, outputs, output_grads):
        y, trials, eta = inputs[0], self.trials(inputs), inputs[-1]
        _, residual = outputs
        g_loglik, g_residual = output_grads
        grad_y, grad_trials, grad_eta = [], [], []
        if not isinstance(g_loglik.type, DisconnectedType):
            grad_y.append(g_loglik * eta)
            grad_trials.append(-g_loglik * pt.softplus(eta))
            grad_eta.append(g_loglik * residual)
        if not isinstance(g_residual.type, DisconnectedType):
            prob = (y - residual) / trials  # sigmoid(eta)
            grad_y.append(g_residual)
            grad_trials.append(-g_residual * prob)
            grad_eta.append(-g_residual * trials * prob * (1.0 - prob))
        grad_data = [pt.add(*grad_y), pt.add(*grad_trials)] if self.has_trials else [pt.add(*grad_y)]
        return [*grad_data, pt.add(*grad_eta)]


class BernoulliLogit(BinomialLogit):
    """`BinomialLogit` with one trial per observation: (y * eta - log(1 + e^eta), y - sigmoid(eta));
    inputs (y, eta)."""

    has_trials = False


bernoulli_logit_op = BernoulliLogit()
binomial_logit_op = BinomialLogit()


def bernoulli_logit(y, eta):
    """(loglik, residual) of `BernoulliLogit` for y and eta of any broadcastable shapes."""
    return _elementwise(bernoulli_logit_op, y, eta)


def binomial_logit(y, trials, eta):
    """(loglik, residual) of `BinomialLogit` (without log C(trials, y)) for any broadcastable shapes."""
    return _elementwise(binomial_logit_op, y, trials, eta)


def _elementwise(op, *inputs):
    """Apply a vector Op to inputs of any broadcastable shapes; outputs in the shape of eta."""
    inputs = list(map(pt.as_tensor_variable, inputs))
    if all(v.ndim == 1 and v.type.shape == inputs[-1].type.shape for v in inputs):
        return op(*inputs)
    inputs = pt.broadcast_arrays(*inputs)
    return tuple(out.reshape(inputs[-1].shape) for out in op(*(v.ravel() for v in inputs)))


def bernoulli_logit_numpy(y: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`BernoulliLogit`'s outputs in NumPy (stable for any eta)."""
    return binomial_logit_numpy(y, 1.0, eta)


def binomial_logit_numpy(y: np.ndarray, trials, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`BinomialLogit`'s outputs in NumPy (stable for any eta)."""
    loglik = y * eta - trials * np.logaddexp(0.0, eta)
    residual = y - trials * (0.5 * (1.0 + np.tanh(0.5 * eta)))
    return loglik, residual


@register_funcify_default_op_cache_key(BinomialLogit)
def _numba_binomial_logit(op, node=None, **kwargs):
    has_trials = op.has_trials  # a constant of the compiled kernel: n = 1.0 folds away for Bernoulli

    @numba_basic.numba_njit
    def binomial_logit_kernel(*inputs):
        y, eta = inputs[0], inputs[-1]
        n = eta.shape[0]
        loglik = np.empty(n, dtype=eta.dtype)
        residual = np.empty(n, dtype=eta.dtype)
        for i in range(n):
            x = eta[i]
            trials = inputs[1][i] if has_trials else 1.0
            # e = exp(-|x|) never overflows; log(1 + e^x) = max(x, 0) + log(1 + e).
            if x > 0.0:
                e = np.exp(-x)
                denom = 1.0 + e
                loglik[i] = (y[i] - trials) * x - trials * np.log(denom)
                residual[i] = y[i] - trials / denom
            else:
                e = np.exp(x)
                denom = 1.0 + e
                loglik[i] = y[i] * x - trials * np.log(denom)
                residual[i] = y[i] - trials * e / denom
        return loglik, residual

    return binomial_logit_kernel, KERNEL_VERSION


def register_jax() -> None:
    """Give the Ops a JAX implementation (imports JAX: call it only on the numpyro path)."""
    import jax
    import jax.numpy as jnp
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(BinomialLogit)
    def _jax_binomial_logit(op, **kwargs):
        def binomial_logit_jax(*inputs):
            y, trials, eta = inputs[0], op.trials(inputs), inputs[-1]
            return y * eta - trials * jnp.logaddexp(0.0, eta), y - trials * jax.nn.sigmoid(eta)

        return binomial_logit_jax
