"""Faults: a workflow killed in the middle of a model fit recovers to the same results, a
half-written output never counts as done, and a failing model job is retried, reported, and does
not stop independent jobs.

What Snakemake requires after `SIGKILL` of its whole process group (checked below; Snakemake
9.27): the killed run leaves its lock in `.snakemake/locks/`, so the next run stops with
`LockException` and names `--unlock`; and the killed job's outputs are recorded as incomplete in
`.snakemake/incomplete/`. If none of them exists (the normal case: every model output is written
under a hidden temporary name and renamed into place only when complete) a plain rerun after
`--unlock` runs the job again. If one exists (a kill between the renames, simulated here by a
truncated file), Snakemake refuses to use it (`IncompleteFilesException`, naming
`--rerun-incomplete`) and `--rerun-incomplete` reruns the job. So the documented recovery is:

    snakemake --unlock <same arguments>
    snakemake --rerun-incomplete <same arguments>

All tests here fit a small model (about 45 s each with a warm compile cache): `slow`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest
from bad_inputs.cases import MODEL_BASELINE, MODEL_SPEC, FileFormat, encode
from workflow_runner import (
    differences,
    kill_group,
    model_target,
    posterior_differences,
    run_workflow,
    start_workflow,
    tiny_config,
    wait_for,
)

pytestmark = pytest.mark.slow

RUN = "fault"
MODEL_FILES = ["summary.csv", "posterior.nc", "diagnostics.json", "variance_partition.csv", "ppc.csv"]


def model_dir(workdir: Path, model: str = "homework") -> Path:
    return workdir / "results" / RUN / "models" / model


def hidden_temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.tmp")] if root.exists() else []


def wait_until_fitting(work: Path, timeout: float = 600) -> bool:
    """Wait until the model job is inside the fit: its log exists (the job script has started)
    and either the model code has logged (the design is built; compilation and sampling follow)
    or 8 s have passed since (importing PyMC and compiling take longer than that)."""
    log = work / "results" / RUN / "logs" / "fit_model_homework.log"
    if not wait_for(log.exists, timeout):
        return False
    wait_for(lambda: "homeworkflow.models" in log.read_text(), timeout=8)
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run up to the homework model's summary."""
    work = tmp_path_factory.mktemp("reference")
    result = run_workflow(work, tiny_config(RUN), [model_target(RUN, "homework")], cores=1)
    assert result.returncode == 0, result.describe()
    return result


def test_kill_during_model_fit_then_rerun_gives_identical_results(tmp_path, reference):
    work = tmp_path / "killed"
    config = tiny_config(RUN)
    target = [model_target(RUN, "homework")]
    proc, args = start_workflow(work, config, target, cores=1)
    try:
        assert wait_until_fitting(work), (work / "snakemake.stderr").read_text()[-3000:]
        assert proc.poll() is None, "the workflow ended before it could be killed"
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL

    # Nothing of the fit counts as done: no output under its final name.
    outputs = [model_dir(work) / f for f in MODEL_FILES]
    assert not any(p.exists() for p in outputs), [p for p in outputs if p.exists()]
    incomplete = work / ".snakemake" / "incomplete"
    assert incomplete.exists() and any(incomplete.iterdir()), "Snakemake should mark the job incomplete"

    # The killed run's lock is left behind: a plain rerun refuses and names --unlock.
    locked = run_workflow(work, config, target, cores=1)
    assert locked.returncode != 0 and "LockException" in locked.output and "--unlock" in locked.output
    assert not (model_dir(work) / "summary.csv").exists()
    unlock = run_workflow(work, config, target, cores=1, extra=["--unlock"])
    assert unlock.returncode == 0, unlock.describe()
    # No output of the killed job exists, so no --rerun-incomplete is needed here.
    rerun = run_workflow(work, config, target, cores=1)
    assert rerun.returncode == 0, rerun.describe()
    assert (model_dir(work) / "summary.csv").read_bytes() == (model_dir(reference.workdir) / "summary.csv").read_bytes()
    assert posterior_differences(model_dir(work) / "posterior.nc", model_dir(reference.workdir) / "posterior.nc") == []
    tables, _ = differences(reference.results, rerun.results)
    assert tables == [], tables
    assert hidden_temporaries(rerun.results) == []


def test_half_written_output_is_never_taken_as_done(tmp_path, reference):
    """A kill between the renames of a model's outputs leaves some under their final names; the
    job is still marked incomplete, so Snakemake will not use them: a plain rerun refuses and
    names `--rerun-incomplete`, which reruns the job to the same result."""
    work = tmp_path / "half"
    config = tiny_config(RUN)
    target = [model_target(RUN, "homework")]
    proc, _ = start_workflow(work, config, target, cores=1)
    try:
        assert wait_until_fitting(work)
    finally:
        kill_group(proc)
    # What a kill in the middle of writing would leave: a truncated file under a final name and
    # a hidden temporary beside it.
    out = model_dir(work)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.csv").write_text("term,mean,sd\nIntercept,0.1")
    (out / f".posterior.nc.{os.getpid()}.tmp").write_bytes(b"\x89HDF partial")

    assert run_workflow(work, config, target, cores=1, extra=["--unlock"]).returncode == 0
    plain = run_workflow(work, config, target, cores=1)
    assert plain.returncode != 0
    assert "IncompleteFilesException" in plain.output or "incomplete" in plain.output.lower(), plain.describe()
    assert "--rerun-incomplete" in plain.output

    rerun = run_workflow(work, config, target, cores=1, extra=["--rerun-incomplete"])
    assert rerun.returncode == 0, rerun.describe()
    assert (out / "summary.csv").read_bytes() == (model_dir(reference.workdir) / "summary.csv").read_bytes()
    # The stale temporary is not an output: nothing reads it, and it is left for the user to
    # delete (documented); Snakemake never treats it as a result.
    assert (
        pd.read_csv(out / "summary.csv")["term"].tolist()
        == pd.read_csv(model_dir(reference.workdir) / "summary.csv")["term"].tolist()
    )


def test_failing_model_is_retried_reported_and_others_keep_going(tmp_path):
    """A model that cannot be fitted (its formula names a column its data lacks) fails all
    3 attempts (`retries: 2`, memory growing per attempt), is reported with its log; the
    independent homework model still completes under `--keep-going`."""
    data = tmp_path / "input" / "data.csv"
    data.parent.mkdir(parents=True)
    data.write_bytes(encode(MODEL_BASELINE["data"], FileFormat()))
    config = tiny_config(RUN)
    config["models"]["broken"] = {**MODEL_SPEC, "data": str(data), "formula": "y ~ x + dose + (1 | g)"}
    targets = [model_target(RUN, "broken"), model_target(RUN, "homework")]
    result = run_workflow(
        tmp_path / "work", config, targets, cores=2, extra=["--keep-going", "--set-threads", "fit_model=1"]
    )
    assert result.returncode != 0
    output = result.output
    assert output.count("Trying to restart job") >= 2, result.describe()
    assert "mem_mb=12000" in output, "third attempt should get 3 x 4000 MB"
    assert "Error in rule fit_model" in output and "fit_model_broken.log" in output
    assert "uses column(s) not in the data: ['dose']" in result.log("fit_model_broken")
    assert (result.results / "models" / "homework" / "summary.csv").exists(), result.describe()
    broken = result.results / "models" / "broken"
    assert not broken.exists() or not any(broken.iterdir())
