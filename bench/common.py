"""Shared helpers for the benchmarks: timing and writing results as JSON and Markdown."""

from __future__ import annotations

import json
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def timed(record: dict, key: str):
    """Store the wall time of the block, in seconds, as record[key]."""
    start = time.perf_counter()
    yield
    record[key] = round(time.perf_counter() - start, 3)


def machine() -> dict:
    import os

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}


def save(name: str, rows: list[dict], notes: str = "") -> pd.DataFrame:
    """Write bench/results/<name>.json and <name>.md, and print the table."""
    RESULTS.mkdir(exist_ok=True)
    table = pd.DataFrame(rows)
    payload = {"benchmark": name, "machine": machine(), "rows": rows, "notes": notes}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    markdown = f"# {name}\n\n{notes}\n\nMachine: {machine()}\n\n{table.to_markdown(index=False)}\n"
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
    return table
