"""Rule adapter: fit one configured multilevel model and write its outputs; the job's log
ends with the seconds of each stage (JobStages)."""

from pathlib import Path

from homeworkflow.util.logs import JobStages, logging_to
from homeworkflow.models.backend.cache import configure_compile_cache

stages = JobStages()
cache = Path(snakemake.params.compile_cache)
# Before PyTensor or numba are imported: a persistent compile cache of this model's own.
configure_compile_cache(cache)

from homeworkflow.models import ModelSpec  # noqa: E402
from homeworkflow.models.backend.nutpie_numba import compiling_first_fit  # noqa: E402 (numpy only)

settings, data_file, missing_codes = dict(snakemake.params.settings), snakemake.input.data, snakemake.params.missing_codes
with logging_to(snakemake.log[0]) as log:
    spec = ModelSpec.from_config(snakemake.wildcards.model, settings)
    # The model's first fit: its callbacks compile in a child from here on, while this job imports,
    # reads and builds (nutpie_numba.compiling_first_fit).
    first_fit = (cache, "homeworkflow.models.fit:model_from_files", spec.name, settings, data_file, missing_codes)
    with compiling_first_fit(*first_fit, when=spec.sampler == "nutpie") as compiling:
        from homeworkflow.util.io import read_table
        from homeworkflow.models import write_model_outputs
        from homeworkflow.models.fit import fit_model  # imports PyMC, PyTensor, ArviZ

        stages.mark("imports")
        data = read_table(data_file, missing_codes=missing_codes)
        stages.mark("read")
        result = fit_model(data, spec, threads=snakemake.threads, disk_cache=True, compiling=compiling)
    stages.add({stage: result.diagnostics[f"{stage}_s"] for stage in ("design", "compile", "sampling", "postprocess")})
    result.diagnostics["job_stages_s"] = dict(stages.seconds)
    write_model_outputs(result, Path(snakemake.output.summary).parent)
    stages.mark("write")
    stages.log(log)
