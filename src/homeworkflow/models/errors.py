"""Exceptions raised by the model layer, and how their messages name rows of the data."""

import numpy as np


class ModelSpecError(ValueError):
    """The model config or the data cannot define the requested model; raised before sampling."""


class ConvergenceError(RuntimeError):
    """The sampler's diagnostics failed the configured gate (with gate.on_fail == "error").

    The fitted result is attached as ``result`` so a caller can still write it out for inspection.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def data_rows(mask, shown: int = 5) -> str:
    """'data rows 2, 7, ... (n rows in total)': 1-based rows of the data (below a file's header)."""
    rows = np.flatnonzero(np.asarray(mask, dtype=bool)) + 1
    text = ", ".join(map(str, rows[:shown])) + (", ..." if len(rows) > shown else "")
    plural = "s" if len(rows) != 1 else ""
    return f"data row{plural} {text} ({len(rows)} row{plural} in total)"
