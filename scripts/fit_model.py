"""Rule adapter: fit one configured multilevel model and write its outputs; the job's log
ends with the seconds of each stage (JobStages)."""

from pathlib import Path

from homeworkflow.util.logs import JobStages, logging_to
from homeworkflow.models.backend.cache import configure_compile_cache

stages = JobStages()
# Before PyTensor or numba are imported: a persistent compile cache of this model's own (and the
# generic kernel's, shared by every model).
configure_compile_cache(Path(snakemake.params.compile_cache))

settings, data_file, missing_codes = dict(snakemake.params.settings), snakemake.input.data, snakemake.params.missing_codes
with logging_to(snakemake.log[0]) as log:
    from homeworkflow.util.io import read_table
    from homeworkflow.models import ModelSpec, write_model_outputs
    from homeworkflow.models.fit import fit_model  # imports PyMC, PyTensor, ArviZ

    stages.mark("imports")
    spec = ModelSpec.from_config(snakemake.wildcards.model, settings)
    data = read_table(data_file, missing_codes=missing_codes)
    stages.mark("read")
    result = fit_model(data, spec, threads=snakemake.threads)
    stages.add({stage: result.diagnostics[f"{stage}_s"] for stage in ("design", "compile", "sampling", "postprocess")})
    result.diagnostics["job_stages_s"] = dict(stages.seconds)
    write_model_outputs(result, Path(snakemake.output.summary).parent)
    stages.mark("write")
    stages.log(log)
