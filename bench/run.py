"""Run the benchmarks (`make bench`); results go to bench/results/<name>.{json,md}.

    .venv/bin/python bench/run.py                 # data, likelihood, samplers, scaling (CPU), trajectories, workflow
    .venv/bin/python bench/run.py samplers scaling
    .venv/bin/python bench/run.py scaling -- --sizes 1e3 1e4     # arguments after -- go to each one

GPU runs are not started from here: see bench/README.md ("GPU runs", bench/gpu/device_run.sh).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "data": "bench_data.py",
    "likelihood": "bench_likelihood.py",
    "samplers": "bench_samplers.py",
    "scaling": "bench_scaling.py",
    "trajectories": "bench_trajectories.py",
    "workflow": "bench_workflow.py",
}


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    names = (argv[: argv.index("--")] if "--" in argv else argv) or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / BENCHMARKS[name]), *extra]).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
