"""Rule adapter: write the run's manifest.json."""

from homeworkflow.util.io import write_json
from homeworkflow.util.logs import logging_to
from homeworkflow.util.provenance import build_manifest

with logging_to(snakemake.log[0]):
    manifest = build_manifest(
        config=snakemake.config,
        inputs=list(snakemake.input.inputs),
        log_dir=snakemake.params.log_dir,
        repo=snakemake.params.repo,
        seeds=snakemake.params.seeds,
    )
    write_json(manifest, snakemake.output[0])
