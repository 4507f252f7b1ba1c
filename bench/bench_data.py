"""Time everything before model fitting at the default sizes: simulate, write, validate,
pseudonymise, clean, derive features and Table 1 (issue target: under 15 s on 2 cores).

Also times the same steps at 1e6 Study 1 sessions (target: validation, cleaning and features in
under 30 s and 2 GB). Each row runs in a fresh process; peak_rss_mb is that process's peak
resident memory (simulation and imports included)."""

from __future__ import annotations

import resource
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import save, timed  # noqa: E402

from homeworkflow.data.chain import cleaned_tables, derived_tables  # noqa: E402
from homeworkflow.simulate import simulate_study1, simulate_study2  # noqa: E402
from homeworkflow.util.io import write_table  # noqa: E402

SIMULATE = {"study1": simulate_study1, "study2": simulate_study2}
# The features each study derives, as the workflow's config/config.yaml asks for them.
DERIVE = {
    "study1": {"reference_levels": {"ebp": "MAP"}, "centre": ["child_age", "ebp_fit"], "min_cell": 11},
    "study2": {"baseline_centre": {"phq9": 10, "gad7": 7}, "min_cell": 11},
}


def one_study(study: str, params: dict, label: str) -> dict:
    """One row: the analysis chain (`homeworkflow.data.chain`) on simulated files, stage by stage."""
    row = {"study": study, "size": label}
    with tempfile.TemporaryDirectory() as tmp, timed(row, "total_s"):
        with timed(row, "simulate_s"):
            tables, _ = SIMULATE[study](params, seed=1)
        with timed(row, "write_csv_s"):
            paths = {name: write_table(df, Path(tmp) / f"{name}.csv") for name, df in tables.items()}
        with timed(row, "validate_to_clean_s"):
            tables, _ = cleaned_tables(study, paths=paths, salt="bench")
        with timed(row, "features_s"):
            derived_tables(study, tables, **DERIVE[study])
    row["rows"] = sum(len(df) for df in tables.values())
    row["validate_to_features_s"] = round(row["validate_to_clean_s"] + row["features_s"], 3)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return row


def in_fresh_process(*args) -> dict:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(one_study, *args).result()


def main() -> None:
    big = {"sizes": {"n_therapists": 20_000, "n_clients": 200_000, "n_sessions": 1_000_000}}
    jobs = [("study1", {}, "paper"), ("study2", {}, "paper"), ("study1", big, "1e6 sessions")]
    rows = [in_fresh_process(*job) for job in jobs]
    notes = (
        "Wall seconds of each pre-model stage (no Snakemake overhead; validate_to_clean_s: validate, "
        "pseudonymise and clean, as the clean rule runs them); each row in a fresh process, "
        "peak_rss_mb its peak resident memory."
    )
    save("data_stages", rows, notes)


if __name__ == "__main__":
    main()
