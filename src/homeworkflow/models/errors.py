"""Exceptions raised by the model layer."""


class ModelSpecError(ValueError):
    """The model config or the data cannot define the requested model; raised before sampling."""


class ConvergenceError(RuntimeError):
    """The sampler's diagnostics failed the configured gate (with gate.on_fail == "error").

    The fitted result is attached as ``result`` so a caller can still write it out for inspection.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
