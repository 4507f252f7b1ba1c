"""Power-analysis replicate fits per hour with 1 and 2 parallel jobs.

    .venv/bin/python bench/bench_design.py [--replicates 6] [--design 25,3,3] [--sampler pymc]
    .venv/bin/python bench/bench_design.py --slurm      # through profiles/slurm-local (cluster up)

Runs one small power analysis (one design point x one effect x N replicates, the shipped
config/design.yaml otherwise) through the real workflow in a scratch directory:
`snakemake --cores 1` then `--cores 2` (with --slurm: `--profile profiles/slurm-local --jobs 1`
then `--jobs 2`). Each configuration gets a fresh results tree but the same replicates (same
seeds), and a compile cache warmed by an untimed first run (.cache/compile/bench/design), so the
numbers are steady-state throughput. Reported: wall time of the Snakemake command (DAG included),
the span from the first replicate job's start to the last one's end (from Snakemake's log), and
replicate fits per hour over that span; per fit, the mean time a job took and the fit's own time
(compile + sampling + summaries) from the replicate logs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_CACHE, ROOT, save  # noqa: E402

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
FIT = re.compile(r"fit in ([\d.]+) s \(compile ([\d.]+) s\)")


def config(run: str, replicates: int, point: tuple[int, int, int], sampler: str) -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    design = yaml.safe_load((ROOT / "config" / "design.yaml").read_text())["design"]
    t, c, s = point
    design["sampling"]["sampler"] = sampler
    design["power"].update(
        effects=[2.0],
        designs={"n_therapists": [t], "clients_per_therapist": [c], "sessions_per_client": [s]},
        replicates=replicates,
    )
    design["sbc"]["replicates"] = 0
    cfg.update(run=run, design=design)
    return cfg


def job_spans(log_text: str) -> list[tuple[datetime, datetime]]:
    """(start, end) of each design_power_replicate job, from Snakemake's own log."""
    starts, ends, stamp, rule = {}, [], None, None
    for line in log_text.splitlines():
        m = STAMP.match(line.strip())
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            continue
        if line.startswith("rule ") or line.startswith("localrule "):
            rule = line.split()[1].rstrip(":")
        m = re.match(r"\s+jobid: (\d+)", line)
        if m and rule == "design_power_replicate":
            starts[m.group(1)] = stamp
        m = re.match(r"Finished jobid: (\d+)", line.strip()) or re.match(r"Finished job (\d+)\.", line.strip())
        if m and m.group(1) in starts:
            ends.append((starts[m.group(1)], stamp))
    return ends


def run_once(workdir: Path, cfg: dict, extra: list[str], env: dict) -> dict:
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    target = f"results/{cfg['run']}/design/power/power.csv"
    args = [*SNAKEMAKE, target, "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile", str(workdir / "config.yaml"), *extra]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"), key=os.path.getmtime)
    spans = job_spans(logs[-1].read_text())
    fits = [FIT.search(p.read_text()) for p in (workdir / "results" / cfg["run"] / "logs" / "design" / "power").rglob("*.log")]
    fits = [m for m in fits if m]
    span = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds() if spans else float("nan")
    n = len(spans)
    return {
        "jobs_timed": n,
        "wall_s": round(wall, 1),
        "span_s": round(span, 1),
        "fits_per_hour": round(3600 * n / span, 1) if span and n else None,
        "job_mean_s": round(sum((e - s).total_seconds() for s, e in spans) / n, 1) if n else None,
        "fit_mean_s": round(sum(float(m.group(1)) for m in fits) / len(fits), 1) if fits else None,
        "compile_mean_s": round(sum(float(m.group(2)) for m in fits) / len(fits), 1) if fits else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=6)
    parser.add_argument("--design", default="25,3,3", help="therapists,clients per therapist,sessions per client")
    parser.add_argument("--sampler", default="pymc", choices=["pymc", "nutpie", "numpyro"])
    parser.add_argument("--slurm", action="store_true", help="through profiles/slurm-local (--jobs 1, 2)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directories")
    args = parser.parse_args()
    point = tuple(int(x) for x in args.design.split(","))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SNAKEMAKE_PROFILE")}
    cache = BENCH_CACHE / "design"
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-design-"))
    rows = []
    try:
        for parallel in (0, 1, 2):  # 0: untimed warm-up of the compile cache (one replicate)
            workdir = scratch / f"p{parallel}"
            (workdir / ".cache" / "compile").mkdir(parents=True)
            (workdir / ".cache" / "compile" / "design").symlink_to(cache, target_is_directory=True)
            if args.slurm:
                extra = ["--profile", str(ROOT / "profiles" / "slurm-local"), "--jobs", str(max(parallel, 1))]
            else:
                extra = ["--cores", str(max(parallel, 1))]
            cfg = config(f"bench{parallel}", 1 if parallel == 0 else args.replicates, point, args.sampler)
            load = os.getloadavg()[0]
            row = run_once(workdir, cfg, extra, env)
            if parallel == 0:
                print(f"warm-up: {row}")
                continue
            rows.append(
                {
                    "mode": "slurm --jobs" if args.slurm else "local --cores",
                    "parallel": parallel,
                    "sampler": args.sampler,
                    "design": f"t{point[0]}-c{point[1]}-s{point[2]}",
                    "sessions": point[0] * point[1] * point[2],
                    "replicates": args.replicates,
                    **row,
                    "load_before": round(load, 2),
                }
            )
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    notes = (
        "Replicate fits of the power analysis (rule design_power_replicate, one job each, threads 1; "
        f"sampling as config/design.yaml, sampler {args.sampler}) with 1 and 2 parallel jobs. "
        "fits_per_hour = replicate jobs / span from the first job's start to the last one's end. "
        "job_mean_s: a job's wall time (process start, imports, simulation, fit, writing); fit_mean_s: "
        "fit_model's own total, compile_mean_s: its compile and set-up. Warm compile cache. "
        "load_before: 1-min load average when the configuration started (shared machine)."
    )
    name = f"design_{'slurm' if args.slurm else 'local'}_{args.sampler}"
    save(name, rows, notes)


if __name__ == "__main__":
    main()
