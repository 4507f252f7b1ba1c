"""Run the real workflow in a scratch directory, the way a user would: a subprocess of
Snakemake with `--snakefile <repo>/Snakefile --directory <tmp> --configfile <tmp>/config.yaml`.

Shared by the workflow-level tests (bad-input corpus, faults, determinism, privacy). Configs are
tiny (small simulated studies, 2 chains x 150 draws, gate `warn`, no extra chains), so a run up to a model's
summary takes tens of seconds on two cores, most of it model compilation.

Compile caches: the workflow keeps PyTensor/numba caches under `<workdir>/.cache/compile/<model>`.
A scratch directory would start cold every time (20-50 s per model), so `prepare_workdir` links
`<workdir>/.cache` to `<repo>/.cache/tests` (ignored by git), shared by every test run but not
with the user's own runs. A compile cache changes speed only, never draws (tested in
test_determinism.py: the second run of a pair reuses the first run's cache).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"
_VENV_SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SNAKEMAKE = [str(_VENV_SNAKEMAKE)] if _VENV_SNAKEMAKE.exists() else [sys.executable, "-m", "snakemake"]
TEST_CACHE = ROOT / ".cache" / "tests"

# Small enough to simulate, clean and fit in seconds; large enough for every model to be
# identified (several therapists, clients and organisations; intervals with sessions).
TINY_STUDY1 = {"sizes": {"n_therapists": 8, "n_clients": 24, "n_sessions": 72}}
TINY_STUDY2 = {
    "sizes": {
        "n_organisations": 3,
        "n_therapists": 8,
        "n_clients": 30,
        "n_sessions": 150,
        "min_sessions_per_client": 3,
        "max_sessions_per_client": 8,
    }
}
TINY_SAMPLING = {"chains": 2, "draws": 150, "tune": 150}
TINY_GATE = {"on_fail": "warn", "extend": 0}  # tiny draws never pass: no extra chains

# A model small enough to compile and sample in a few seconds: Study 1's outcome on a few
# predictors (the configured homework model has 10 predictors and 2 group terms).
SMALL_HOMEWORK_MODEL = {
    "data": "study1/sessions",
    "formula": "homework ~ caregiver_present + child_age + (1 | therapist_id)",
    "family": "bernoulli",
}


def tiny_config(run: str = "t", **overrides) -> dict:
    """The repository's default config with tiny sizes and light sampling; `overrides` replace
    top-level keys (a dict value is merged one level deep, e.g. study1={"source": "files"})."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["run"] = run
    config["study1"]["simulation"] = copy.deepcopy(TINY_STUDY1)
    config["study2"]["simulation"] = copy.deepcopy(TINY_STUDY2)
    config["sampling"].update(TINY_SAMPLING)
    config["gate"].update(TINY_GATE)
    config["models"]["homework"] = dict(SMALL_HOMEWORK_MODEL)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **copy.deepcopy(value)}
        else:
            config[key] = copy.deepcopy(value)
    return config


def prepare_workdir(workdir: Path, shared_cache: bool = True) -> Path:
    """A scratch working directory; with `shared_cache` its `.cache` is the tests' compile cache."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cache = workdir / ".cache"
    if shared_cache and not cache.exists():
        TEST_CACHE.mkdir(parents=True, exist_ok=True)
        cache.symlink_to(TEST_CACHE, target_is_directory=True)
    return workdir


def write_config(workdir: Path, config: dict, name: str = "config.yaml") -> Path:
    path = Path(workdir) / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class RunResult:
    """A finished Snakemake invocation and where it ran."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    run: str
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def results(self) -> Path:
        return self.workdir / "results" / self.run

    def log(self, name: str) -> str:
        """Text of a job's log, e.g. log("clean_study1"); "" when the job wrote none."""
        path = self.results / "logs" / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def files(self, under: str = "") -> list[Path]:
        """Every file (not directory) under results/<run>/<under>, sorted."""
        base = self.results / under
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []

    def describe(self) -> str:
        """What to print when an assertion about this run fails."""
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.files("logs"))
        return f"$ {' '.join(self.args)}\nexit {self.returncode}\n{self.output[-6000:]}\n{logs}"


def snakemake_args(workdir: Path, configfile: Path, targets=(), cores: int = 1, extra=()) -> list[str]:
    # Targets first: options such as --set-threads take several values and would swallow them.
    return [
        *SNAKEMAKE,
        *[str(t) for t in targets],
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        str(cores),
        *extra,
    ]


def _env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the workflow sets its own
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def run_workflow(
    workdir: Path,
    config: dict,
    targets=(),
    cores: int = 1,
    extra=(),
    timeout: float = 900,
    shared_cache: bool = True,
) -> RunResult:
    """Write `config` into `workdir` and run Snakemake there up to `targets` (default: `all`)."""
    workdir = prepare_workdir(workdir, shared_cache)
    configfile = write_config(workdir, config)
    args = snakemake_args(workdir, configfile, targets, cores, extra)
    start = time.monotonic()
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=_env())
    return RunResult(args, proc.returncode, proc.stdout, proc.stderr, workdir, config["run"], time.monotonic() - start)


def start_workflow(
    workdir: Path, config: dict, targets=(), cores: int = 1, extra=(), shared_cache: bool = True
) -> tuple[subprocess.Popen, list[str]]:
    """Start Snakemake in its own process group (for kill tests); output goes to files in workdir."""
    workdir = prepare_workdir(workdir, shared_cache)
    configfile = write_config(workdir, config)
    args = snakemake_args(workdir, configfile, targets, cores, extra)
    out = open(workdir / "snakemake.stdout", "w")
    err = open(workdir / "snakemake.stderr", "w")
    proc = subprocess.Popen(args, cwd=workdir, stdout=out, stderr=err, env=_env(), start_new_session=True)
    out.close()
    err.close()
    return proc, args


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of `proc` (Snakemake and every job it started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def model_target(run: str, model: str, name: str = "summary.csv") -> str:
    return f"results/{run}/models/{model}/{name}"


# ------------------------------------------------------------------------ comparing two runs

TABLE_SUFFIXES = {".csv", ".md", ".tex", ".parquet", ".json"}
FIGURE_SUFFIXES = {".png", ".pdf", ".svg"}
SKIPPED_DIRS = {"logs", "notebooks"}
# Times, and the git state (a commit to the tree while a long test runs changes it, not results).
VOLATILE_MANIFEST = {"started", "finished", "code_version"}


def _volatile_diagnostic(key: str) -> bool:
    return key.endswith("_s") or key == "threads"


def result_files(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(root).parts)
    }


def posterior_differences(a: Path, b: Path) -> list[str]:
    import arviz as az

    first, second = az.from_netcdf(a), az.from_netcdf(b)
    if set(first.groups()) != set(second.groups()):
        return [f"groups {first.groups()} != {second.groups()}"]
    out = []
    for group in first.groups():
        x, y = first[group], second[group]
        for name in sorted(set(x.variables) | set(y.variables)):
            if name not in x.variables or name not in y.variables:
                out.append(f"{group}/{name} only in one run")
            elif not x[name].identical(y[name]):
                out.append(f"{group}/{name} differs")
    return out


def differences(a: Path, b: Path) -> tuple[list[str], list[str]]:
    """(differences in tables and posteriors, differences in figures) between two results trees."""
    files_a, files_b = result_files(a), result_files(b)
    tables = [f"only in one run: {name}" for name in sorted(set(files_a) ^ set(files_b))]
    figures = []
    for name in sorted(set(files_a) & set(files_b)):
        pa, pb = files_a[name], files_b[name]
        suffix = pa.suffix.lower()
        if pa.name == "diagnostics.json":
            da, db = (json.loads(p.read_text()) for p in (pa, pb))
            keys = {k for k in da | db if not _volatile_diagnostic(k)}
            tables += [f"{name}: {k}" for k in sorted(keys) if da.get(k) != db.get(k)]
        elif pa.name == "manifest.json":
            ma, mb = (json.loads(p.read_text()) for p in (pa, pb))
            keys = set(ma) | set(mb)
            tables += [f"{name}: {k}" for k in sorted(keys - VOLATILE_MANIFEST) if ma.get(k) != mb.get(k)]
        elif suffix == ".nc":
            tables += [f"{name}: {d}" for d in posterior_differences(pa, pb)]
        elif suffix in FIGURE_SUFFIXES:
            if pa.read_bytes() != pb.read_bytes():
                figures.append(name)
        elif suffix in TABLE_SUFFIXES or suffix in (".html", ".txt"):
            if pa.read_bytes() != pb.read_bytes():
                tables.append(name)
    return tables, figures
