"""The job stage log's first stage: time from the process's creation."""

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = """
import time
time.sleep({pause})
from homeworkflow.util.logs import JobStages
print(JobStages().seconds["start"])
"""


def _start_seconds(pause: float) -> float:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-c", CHILD.format(pause=pause)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return float(out.stdout)


def test_start_counts_the_time_since_the_process_was_created():
    # A bare interpreter reaches JobStages in well under 0.3 s; one that waits first
    # shows the wait. (psutil's create_time, whole-second boot time, read 0.5 s late here.)
    assert _start_seconds(0.0) < 0.3
    assert 0.4 <= _start_seconds(0.4) < 0.7
