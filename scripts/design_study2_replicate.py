"""Rule adapter: simulate one Study 2 replicate, fit the outcome model, write one row per term."""

from pathlib import Path

from homeworkflow.models.backend.cache import configure_compile_cache

# Before PyTensor or numba are imported: the persistent compile cache of the design jobs.
configure_compile_cache(Path(snakemake.params.compile_cache))

from homeworkflow.design.recovery import recovery_replicate  # noqa: E402
from homeworkflow.util.io import write_table  # noqa: E402
from homeworkflow.util.logs import logging_to  # noqa: E402

with logging_to(snakemake.log[0]):
    rows = recovery_replicate(dict(snakemake.params.settings), threads=snakemake.threads)
    write_table(rows, snakemake.output[0])
