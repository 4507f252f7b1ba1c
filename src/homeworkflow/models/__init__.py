"""Formula-driven Bayesian multilevel models in PyMC (families: models/spec/families.py).

Importing this package is cheap: PyMC and PyTensor load on first use of fit_model or
write_model_outputs, so configure_compile_cache() can run first.
"""

from .backend.cache import configure_compile_cache
from .errors import ConvergenceError, ModelSpecError
from .spec.model import Gate, ModelSpec

__all__ = [
    "ConvergenceError",
    "Gate",
    "ModelSpec",
    "ModelSpecError",
    "configure_compile_cache",
    "fit_model",
    "write_model_outputs",
]


def __getattr__(name: str):
    if name == "fit_model":
        from .fit import fit_model

        return fit_model
    if name == "write_model_outputs":
        from .posterior.outputs import write_model_outputs

        return write_model_outputs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
