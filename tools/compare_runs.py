"""Compare two runs' results: the same files, tables and summaries byte for byte, JSON equal
apart from fields naming times or code versions, posterior.nc variables exactly, figures
pixel for pixel. Exit status 1 when anything differs.

Usage: python tools/compare_runs.py BASE_RESULTS HEAD_RESULTS
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

# Fields that name when something ran, how long it took (`*_s`: seconds) or which code/packages ran it.
VOLATILE = re.compile(r"(started|finished|time|seconds|_s$|elapsed|duration|code_version|packages|created_at|version)", re.I)
# Files that carry a run's clock or paths by design: compared as present, not by content.
UNCOMPARED = {".log", ".html", ".ipynb"}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not VOLATILE.search(k)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _same_json(a: Path, b: Path) -> str | None:
    left, right = (_strip(json.loads(p.read_text())) for p in (a, b))
    return None if left == right else "JSON differs outside time/version fields"


def _same_png(a: Path, b: Path) -> str | None:
    from PIL import Image

    left, right = (np.asarray(Image.open(p).convert("RGBA")) for p in (a, b))
    if left.shape != right.shape:
        return f"image size {left.shape} vs {right.shape}"
    differing = int((left != right).any(axis=-1).sum())
    return None if differing == 0 else f"{differing} pixels differ"


def _same_netcdf(a: Path, b: Path) -> str | None:
    import xarray as xr

    problems = []
    groups = xr.open_datatree(a).groups
    if groups != xr.open_datatree(b).groups:
        return "different groups"
    for group in groups:
        left = xr.open_dataset(a, group=group)
        right = xr.open_dataset(b, group=group)
        if list(left.data_vars) != list(right.data_vars):
            problems.append(f"{group}: variables {list(left.data_vars)} vs {list(right.data_vars)}")
            continue
        for name in left.data_vars:
            if VOLATILE.search(name):
                continue
            x, y = left[name], right[name]
            if x.dims != y.dims or not x.equals(y) or not all(
                left[d].equals(right[d]) for d in x.dims if d in left.coords
            ):
                problems.append(f"{group}/{name}")
    return "; ".join(problems) or None


def compare_file(a: Path, b: Path) -> str | None:
    """None when the files count as the same, else what differs."""
    suffix = a.suffix
    if suffix in UNCOMPARED:
        return None
    if suffix == ".json":
        return _same_json(a, b)
    if suffix == ".png":
        return _same_png(a, b)
    if suffix == ".nc":
        return _same_netcdf(a, b)
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def main(base: str, head: str) -> int:
    base_dir, head_dir = Path(base), Path(head)
    files = {p.relative_to(base_dir) for p in base_dir.rglob("*") if p.is_file()}
    other = {p.relative_to(head_dir) for p in head_dir.rglob("*") if p.is_file()}
    failures = [f"only in base: {p}" for p in sorted(files - other)]
    failures += [f"only in head: {p}" for p in sorted(other - files)]
    compared = 0
    for path in sorted(files & other):
        problem = compare_file(base_dir / path, head_dir / path)
        compared += path.suffix not in UNCOMPARED
        if problem:
            failures.append(f"{path}: {problem}")
    for line in failures:
        print("DIFF", line)
    print(f"{compared} files compared, {len(failures)} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
