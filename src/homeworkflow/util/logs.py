"""Logging for rule scripts: everything a script says goes to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path


@contextlib.contextmanager
def logging_to(log_path: str | Path):
    """Send logging, warnings and stderr to `log_path` for the duration of a rule script.

    An exception is logged with its traceback and re-raised, so Snakemake marks the job failed
    and deletes its outputs.
    """
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        saved_stderr, sys.stderr = sys.stderr, stream
        try:
            yield logging.getLogger("homeworkflow")
        except BaseException:
            logging.getLogger("homeworkflow").exception("job failed")
            raise
        finally:
            sys.stderr = saved_stderr
            root.removeHandler(handler)


def seconds_since_process_start() -> float:
    """Seconds since this process was created. On Linux, the kernel's start time (clock ticks
    since boot) against the boot clock, to 10 ms. psutil's create_time adds the boot time, which
    the kernel gives in whole seconds, so it reads up to a second late (0.55 s on the development
    machine); it serves only where /proc is missing or disagrees with the boot clock."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        seconds = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
        if seconds >= 0.0:
            return seconds
    except (OSError, AttributeError, ValueError, IndexError):  # not Linux
        pass
    import psutil

    return max(0.0, time.time() - psutil.Process().create_time())


class JobStages:
    """Wall-clock seconds of a job's stages, in order: `mark(stage)` ends the stage running since
    the previous mark. The first stage, `start`, runs from the process's creation (interpreter
    start and Snakemake's script preamble) to the JobStages' own creation."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.seconds = {"start": seconds_since_process_start()}

    def mark(self, stage: str) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now
        return self.seconds[stage]

    def add(self, stages: dict[str, float]) -> None:
        """Split the stage about to be marked: `stages` already measured inside it (say, a
        library call's own timings) are recorded as they are, and the next `mark` gets the rest."""
        for stage, seconds in stages.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
            self._last += seconds

    def log(self, log: logging.Logger, inside: str = "sampling") -> None:
        """One line per stage, and the total outside stage `inside`."""
        for stage, seconds in self.seconds.items():
            log.info("stage %-12s %7.2f s", stage, seconds)
        outside = sum(s for stage, s in self.seconds.items() if stage != inside)
        log.info("job: %.2f s outside %s, %.2f s in all", outside, inside, sum(self.seconds.values()))
