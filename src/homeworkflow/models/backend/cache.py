"""Point the PyTensor and Numba compile caches at a persistent folder.

Imports nothing heavy: call configure_compile_cache() before anything imports pytensor or pymc
(for example first thing in a rule script), or the PyTensor setting cannot take effect.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


def configure_compile_cache(cache_dir: Path) -> None:
    """Use `cache_dir`/pytensor as PyTensor's base_compiledir (its per-node numba functions and
    compiled callbacks go in there too) and the folder `numba` beside `cache_dir` as
    NUMBA_CACHE_DIR: numba's own cache, which holds the generic kernel (`backend.kernel`),
    compiled once and shared by every model (`.cache/compile/numba` for the workflow's jobs).

    Settings the caller already made (a compiledir in PYTENSOR_FLAGS, NUMBA_CACHE_DIR) are kept.
    """
    cache_dir = Path(cache_dir).resolve()
    if "pytensor" in sys.modules:
        warnings.warn(
            "configure_compile_cache() called after pytensor was imported; its compiledir is unchanged",
            RuntimeWarning,
            stacklevel=2,
        )
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "compiledir" not in flags:
        (cache_dir / "pytensor").mkdir(parents=True, exist_ok=True)
        os.environ["PYTENSOR_FLAGS"] = ",".join(
            f for f in (flags, f"base_compiledir={cache_dir / 'pytensor'}") if f
        )
    if "NUMBA_CACHE_DIR" not in os.environ:
        (cache_dir.parent / "numba").mkdir(parents=True, exist_ok=True)
        os.environ["NUMBA_CACHE_DIR"] = str(cache_dir.parent / "numba")
