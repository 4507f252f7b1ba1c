"""Rule adapter: odds ratios of a logistic model, from its posterior."""

import arviz as az

from homeworkflow.util.io import write_table
from homeworkflow.util.logs import logging_to
from homeworkflow.models.posterior.summaries import odds_ratio_table

with logging_to(snakemake.log[0]):
    posterior = az.from_netcdf(snakemake.input.posterior).posterior
    write_table(odds_ratio_table(posterior), snakemake.output[0])
