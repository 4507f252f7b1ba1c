"""Rule adapter: fit one configured multilevel model and write its outputs."""

from pathlib import Path

from homeworkflow.util.logs import logging_to
from homeworkflow.models.backend.cache import configure_compile_cache

# Before PyTensor or numba are imported: a persistent compile cache of this model's own.
configure_compile_cache(Path(snakemake.params.compile_cache))

from homeworkflow.util.io import read_table  # noqa: E402
from homeworkflow.models import ModelSpec, fit_model, write_model_outputs  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    spec = ModelSpec.from_config(snakemake.wildcards.model, dict(snakemake.params.settings))
    data = read_table(snakemake.input.data, missing_codes=snakemake.params.missing_codes)
    result = fit_model(data, spec, threads=snakemake.threads, disk_cache=True)
    write_model_outputs(result, Path(snakemake.output.summary).parent)
