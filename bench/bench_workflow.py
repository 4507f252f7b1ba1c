"""End-to-end `make run` equivalent in a fresh copy of the working tree: cold, warm, no-op.

    .venv/bin/python bench/bench_workflow.py [--cores 2] [--max-threads N] [--cold-only] [--keep]

1. cold: empty compile caches (.cache/compile/<model> in the copy), no results: the full workflow
   (`snakemake --cores N`) then the report (`snakemake --report`), as `make run` does;
2. warm: results/ deleted, compile caches kept: the same two commands again;
3. no-op: nothing changed: `snakemake --cores N` once more (issue target: under 5 s).
Per-job wall times are read from each run's Snakemake log (start and finish stamps per job id),
so with 2 cores they overlap; `busy_s` sums them. Targets: cold `make run` under 4 min on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, save  # noqa: E402

SNAKEMAKE = ROOT / ".venv" / "bin" / "snakemake"
SKIP = {".venv", ".git", "results", ".cache", ".snakemake", ".whl", "bench", ".pytest_cache", "data"}
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def copy_tree(dest: Path) -> None:
    for item in ROOT.iterdir():
        if item.name in SKIP or item.name.endswith(".egg-info"):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, dest / item.name)
    (dest / "results").mkdir(exist_ok=True)


def snakemake(workdir: Path, args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([str(SNAKEMAKE), *args], cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"snakemake {args} failed:\n{proc.stderr[-4000:]}")
    return wall


def job_times(log: Path) -> dict[str, float]:
    """Seconds from each job's start stamp to its 'Finished job' stamp, summed per rule."""
    stamp, started, rule_of, per_rule = None, {}, {}, {}
    current_rule = None
    for line in log.read_text().splitlines():
        line = line.strip()
        m = STAMP.match(line)
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            continue
        m = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if m:
            current_rule = m.group(1)
            continue
        m = re.match(r"^jobid: (\d+)$", line)
        if m and current_rule:
            started[m.group(1)], rule_of[m.group(1)] = stamp, current_rule
            current_rule = None
            continue
        m = re.match(r"^Finished job(?:id)?:? (\d+)", line)
        if m and m.group(1) in started:
            rule = rule_of[m.group(1)]
            per_rule[rule] = per_rule.get(rule, 0.0) + (stamp - started[m.group(1)]).total_seconds()
    return per_rule


def latest_log(workdir: Path) -> Path:
    return max((workdir / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)


def make_run(workdir: Path, flags: list[str], label: str, rows: list, jobs: dict) -> None:
    row = {"run": label}
    row["workflow_s"] = round(snakemake(workdir, flags), 1)
    jobs[label] = job_times(latest_log(workdir))
    try:
        row["report_s"] = round(snakemake(workdir, [*flags, "--report", "results/default/report.html"]), 1)
    except RuntimeError as exc:  # a broken report is reported, the timings still count
        row["report_s"], row["report_error"] = None, str(exc).splitlines()[-1][:200]
    row["make_run_s"] = round(row["workflow_s"] + (row["report_s"] or 0), 1)
    row["busy_s"] = round(sum(jobs[label].values()), 1)
    rows.append(row)
    print(row, flush=True)


def finish(rows: list, jobs: dict, flags: list[str], name: str) -> None:
    per_job = sorted({r for j in jobs.values() for r in j}, key=lambda r: -jobs.get("cold", {}).get(r, 0))
    for rule in per_job:
        rows.append({"run": f"job: {rule}", **{f"{k}_s": round(v.get(rule, 0), 1) for k, v in jobs.items()}})
    notes = (
        f"Fresh copy of the working tree, `snakemake {' '.join(flags)}` then `--report` (= make run). "
        "Rows 'job: <rule>' are the summed wall seconds of that rule's jobs (cold_s, warm_s), from the "
        "Snakemake log; jobs overlap on the cores, so they add up to more than the wall."
    )
    save(name, rows, notes)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--max-threads", type=int, help="snakemake --max-threads (as make run sets it)")
    parser.add_argument("--cold-only", action="store_true", help="skip the warm and no-op runs")
    parser.add_argument("--name", default="workflow", help="results name")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args(argv)
    flags = ["--cores", str(args.cores)]
    if args.max_threads:
        flags += ["--max-threads", str(args.max_threads)]
    tmp = Path(tempfile.mkdtemp(prefix="hw-bench-"))
    rows, jobs = [], {}
    try:
        copy_tree(tmp)
        make_run(tmp, flags, "cold", rows, jobs)
        if not args.cold_only:
            shutil.rmtree(tmp / "results")
            (tmp / "results").mkdir()
            make_run(tmp, flags, "warm", rows, jobs)
            noop = round(snakemake(tmp, flags), 1)
            rows.append({"run": "no-op", "workflow_s": noop, "make_run_s": noop})
            print(rows[-1], flush=True)
    finally:
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    finish(rows, jobs, flags, args.name)
    return rows


if __name__ == "__main__":
    main()
