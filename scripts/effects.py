"""Rule adapter: a model's population-level effects on its family's ratio scale, from its posterior."""

import arviz as az

from homeworkflow.models.posterior.summaries import effect_table
from homeworkflow.util.io import write_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    posterior = az.from_netcdf(snakemake.input.posterior).posterior
    write_table(effect_table(posterior, snakemake.params.family), snakemake.output[0])
