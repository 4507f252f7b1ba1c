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

from homeworkflow.clean import clean_study1, clean_study2  # noqa: E402
from homeworkflow.descriptives import table1_study1, table1_study2  # noqa: E402
from homeworkflow.features import study1_sessions, study2_intervals, study2_sessions  # noqa: E402
from homeworkflow.io import write_table  # noqa: E402
from homeworkflow.privacy import pseudonymise  # noqa: E402
from homeworkflow.simulate import simulate_study1, simulate_study2  # noqa: E402
from homeworkflow.validate import load_study  # noqa: E402

CLEAN = {"study1": clean_study1, "study2": clean_study2}
SIMULATE = {"study1": simulate_study1, "study2": simulate_study2}


def derive(study: str, tables: dict) -> None:
    if study == "study1":
        study1_sessions(tables, {"ebp": "MAP"}, ["child_age", "ebp_fit"])
        table1_study1(tables)
    else:
        study2_sessions(tables)
        for outcome, centre in (("phq9", 10), ("gad7", 7)):
            study2_intervals(tables, outcome, centre=centre)
        table1_study2(tables)


def one_study(study: str, params: dict, label: str) -> dict:
    row = {"study": study, "size": label}
    with tempfile.TemporaryDirectory() as tmp, timed(row, "total_s"):
        with timed(row, "simulate_s"):
            tables, _ = SIMULATE[study](params, seed=1)
        with timed(row, "write_csv_s"):
            paths = {name: write_table(df, Path(tmp) / f"{name}.csv") for name, df in tables.items()}
        with timed(row, "validate_s"):
            tables = load_study(study, paths)
        with timed(row, "pseudonymise_s"):
            tables = pseudonymise(tables, study, "bench")
        with timed(row, "clean_s"):
            tables, _ = CLEAN[study](tables)
        with timed(row, "features_s"):
            derive(study, tables)
    row["rows"] = sum(len(df) for df in tables.values())
    stages = ("validate_s", "pseudonymise_s", "clean_s", "features_s")
    row["validate_to_features_s"] = round(sum(row[k] for k in stages), 3)
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
        "Wall seconds of each pre-model stage (no Snakemake overhead); each row in a fresh process, "
        "peak_rss_mb its peak resident memory."
    )
    save("data_stages", rows, notes)


if __name__ == "__main__":
    main()
