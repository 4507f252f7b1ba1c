"""Logging for rule scripts: everything a script says goes to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import sys
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
