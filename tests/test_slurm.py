"""The Slurm profiles against a real single-node Slurm started by hpc/local_slurm.sh (no mocks).

Needs root (the script installs slurm-wlm/munge with apt-get if missing and runs the daemons).
Skipped with a message where the cluster cannot start; set HOMEWORKFLOW_REQUIRE_SLURM=1 to make
that a failure instead. The cluster is the one of `hpc/local_slurm.sh` (state in $SLURM_STATE_DIR,
default /tmp/homeworkflow-slurm; it must own /etc/slurm/slurm.conf, because srun inside each job
reads that path): if it was already running, the tests use it and leave it running; otherwise
they start it and stop it at the end (keeping its logs). Opt-in, since it installs packages and
starts daemons: the tests run only when selected with `-m slurm` (or HOMEWORKFLOW_SLURM_TESTS=1),
so `pytest -m "not slow"` skips them. Run:

    .venv/bin/python -m pytest -m slurm -p no:warnings -s tests/test_slurm.py
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "hpc" / "local_slurm.sh"
SMOKE = ROOT / "tests" / "slurm_smoke" / "Snakefile"
STATE = Path(os.environ.get("SLURM_STATE_DIR", "/tmp/homeworkflow-slurm"))
REQUIRED = os.environ.get("HOMEWORKFLOW_REQUIRE_SLURM") == "1"

# The Slurm variant documented in profiles/cluster-generic/config.yaml.
SBATCH_TEMPLATE = (
    "mkdir -p logs/cluster/{rule} && sbatch --parsable --job-name=smk-{rule}-{jobid} "
    "--cpus-per-task={threads} --mem={resources.mem_mb} --time={resources.runtime} "
    "--output=logs/cluster/{rule}/%j.log"
)
# Job state from squeue: without a status command, a job Slurm kills (memory, time) would leave
# no marker file and Snakemake would wait for it forever.
SQUEUE_STATUS = (
    'bash -c \'s=$(squeue -h -t all -j "$1" -o %T) || { echo running; exit 0; }; case $s in '
    "COMPLETED) echo success;; PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED"
    "|RESIZING) echo running;; *) echo failed;; esac' squeue-status"
)


def _unavailable(msg):
    if REQUIRED:
        pytest.fail(msg)
    pytest.skip(msg)


def _tail(path, n=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"({path} unreadable)"


def _opted_in(config):
    expr = config.getoption("markexpr") or ""
    positive = re.search(r"\bslurm\b", expr) and not re.search(r"\bnot\s+slurm\b", expr)
    return bool(positive) or os.environ.get("HOMEWORKFLOW_SLURM_TESTS") == "1"


@pytest.fixture(scope="module")
def slurm_env(request):
    """Start the cluster once for this module; stop it at the end unless it was running before."""
    if not _opted_in(request.config):
        pytest.skip(
            "Slurm tests are opt-in: run with -m slurm (or HOMEWORKFLOW_SLURM_TESTS=1)"
        )
    if sys.platform != "linux":
        _unavailable("local Slurm test cluster needs Linux")
    if os.geteuid() != 0:
        _unavailable("local Slurm test cluster needs root (apt-get, munged, slurmd)")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        _unavailable(
            "Slurm is not installed and apt-get is not available to install it"
        )

    env = dict(os.environ)
    env.pop("SNAKEMAKE_PROFILE", None)
    for key in [k for k in env if k.startswith("SLURM_")]:
        env.pop(key)  # e.g. running inside a Slurm job: never inherit another cluster
    env.update(SLURM_STATE_DIR=str(STATE), SLURM_CONF=str(STATE / "etc" / "slurm.conf"))
    was_running = (
        subprocess.run(
            ["bash", str(SCRIPT), "status"], env=env, capture_output=True, timeout=60
        ).returncode
        == 0
    )

    def stop():
        if not was_running:
            subprocess.run(
                ["bash", str(SCRIPT), "stop", "--keep-logs"],
                env=env,
                capture_output=True,
                timeout=120,
            )

    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), "start"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        stop()
        _unavailable("hpc/local_slurm.sh start timed out")
    if proc.returncode != 0:
        stop()
        _unavailable(
            f"local Slurm cluster did not start (rc={proc.returncode}):\n"
            f"{proc.stdout}\n{proc.stderr}\nslurmctld.log:\n{_tail(STATE / 'log' / 'slurmctld.log')}"
        )
    print(
        f"\n[slurm] cluster {'already running' if was_running else 'started'}"
        f" ({time.monotonic() - t0:.1f} s); logs in {STATE / 'log'}"
    )
    try:
        yield env
    finally:
        stop()


def _squeue(env, jobids):
    out = subprocess.run(
        [
            "squeue",
            "--states=all",
            "--noheader",
            "--format=%i|%T|%j",
            "--jobs",
            ",".join(jobids),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        i: (state, name) for i, state, name in (line.split("|") for line in out.split())
    }


def _wait_done(env, jobid, timeout=90):
    end = time.monotonic() + timeout
    state = None
    while time.monotonic() < end:
        state = _squeue(env, [jobid]).get(jobid, (None, None))[0]
        if state in {
            "COMPLETED",
            "FAILED",
            "CANCELLED",
            "TIMEOUT",
            "OUT_OF_MEMORY",
            "NODE_FAIL",
        }:
            return state
        time.sleep(0.5)
    return state


def test_sbatch_wrap_completes(slurm_env, tmp_path):
    t0 = time.monotonic()
    jobid = (
        subprocess.run(
            [
                "sbatch",
                "--parsable",
                f"--output={tmp_path}/%j.out",
                "--mem=100",
                "--time=2",
                "--wrap",
                'echo "job=$SLURM_JOB_ID host=$(hostname)"',
            ],
            env=slurm_env,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        .stdout.strip()
        .split(";")[0]
    )
    assert jobid.isdigit(), jobid
    assert _wait_done(slurm_env, jobid) == "COMPLETED"
    out = (tmp_path / f"{jobid}.out").read_text()
    assert f"job={jobid} " in out
    print(f"\n[slurm] sbatch --wrap job {jobid} done in {time.monotonic() - t0:.1f} s")


def _run_snakemake(env, workdir, *args, timeout=600):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SMOKE),
        "-d",
        str(workdir),
        *args,
    ]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.monotonic() - t0
    assert (
        proc.returncode == 0
    ), f"snakemake failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-8000:]}"
    return proc, elapsed


def _recorded_jobs(workdir):
    """(host, SLURM_JOB_ID, cpus) of each job, as written by the jobs themselves."""
    text = (workdir / "collected.txt").read_text()
    rows = re.findall(r"host=(\S+) job=(\S+) cpus=(\S+)", text)
    assert len(rows) == 3, text
    return rows


def _retried_with_more_memory(workdir):
    """grow: killed by Slurm at 600 MB, resubmitted as a new job that Slurm gives 1200 MB.

    Returns (first job id, last job id, tries). The plugin also retries the rule inside the first
    job (same 600 MB allocation) before giving up -- snakemake-executor-plugin-slurm issues
    #284/#348 -- so the first job may appear more than once.
    """
    tries = re.findall(
        r"attempt job=(\d+) mem=(\S+)", (workdir / "grow_attempts.txt").read_text()
    )
    first, last = tries[0], tries[-1]
    assert first[1] == "600M" and last[1] == "1200M" and first[0] != last[0], tries
    assert (workdir / "grow.txt").read_text().strip() == f"grow job={last[0]} mem=1200M"
    return first[0], last[0], len(tries)


def test_snakemake_slurm_executor(slurm_env, tmp_path):
    """Every rule runs as a Slurm job submitted by the slurm executor, tracked with squeue."""
    proc, elapsed = _run_snakemake(
        slurm_env, tmp_path, "--profile", "profiles/slurm-local"
    )
    for out in ("where/1.txt", "where/2.txt", "collected.txt", "grow.txt"):
        assert (tmp_path / out).is_file(), out
    rows = _recorded_jobs(tmp_path)
    jobids = [job for _, job, _ in rows]
    assert all(
        j.isdigit() for j in jobids
    ), rows  # "none" would mean it ran outside Slurm
    assert len(set(jobids)) == 3, rows
    assert rows[2][2] == "2", rows  # collect: threads: 2 became --cpus-per-task=2
    log = proc.stdout + proc.stderr
    for j in jobids:
        assert f"SLURM jobid {j} " in log, (j, log[-3000:])
    # Slurm itself knows the jobs: completed, named with the executor's run UUID.
    seen = _squeue(slurm_env, jobids)
    assert {s for s, _ in seen.values()} == {"COMPLETED"}, seen
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    assert {n for _, n in seen.values()} == {run_id}, seen
    # The failed first attempt was seen as FAILED through squeue and resubmitted.
    first, last, tries = _retried_with_more_memory(tmp_path)
    grow = _squeue(slurm_env, [first, last])
    assert grow == {first: ("FAILED", run_id), last: ("COMPLETED", run_id)}, grow
    print(
        f"\n[slurm] smoke workflow via slurm executor: {elapsed:.1f} s, jobs {jobids},"
        f" grow: job {first} (600M, killed) -> job {last} (1200M), {tries} tries"
    )


def test_snakemake_cluster_generic_profile(slurm_env, tmp_path):
    """profiles/cluster-generic with its Slurm variant: sbatch template, squeue status."""
    proc, elapsed = _run_snakemake(
        slurm_env,
        tmp_path,
        "--profile",
        "profiles/cluster-generic",
        "--cluster-generic-submit-cmd",
        SBATCH_TEMPLATE,
        "--cluster-generic-cancel-cmd",
        "scancel",
        "--cluster-generic-status-cmd",
        SQUEUE_STATUS,
        "--latency-wait",
        "5",
    )
    rows = _recorded_jobs(tmp_path)
    jobids = [job for _, job, _ in rows]
    assert all(j.isdigit() for j in jobids) and len(set(jobids)) == 3, rows
    for j in jobids:
        assert list((tmp_path / "logs" / "cluster").glob(f"*/{j}.log")), j
    first, last, tries = _retried_with_more_memory(tmp_path)
    print(
        f"\n[slurm] smoke workflow via cluster-generic: {elapsed:.1f} s, jobs {jobids},"
        f" grow: job {first} (600M, killed) -> job {last} (1200M), {tries} tries"
    )
