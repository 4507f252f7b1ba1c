"""Rule adapter: compare configured models by PSIS-LOO; a table and a figure."""

import arviz as az

from homeworkflow.presentation.figures.models import comparison_figure
from homeworkflow.presentation.figures.style import save_figure
from homeworkflow.util.io import write_table
from homeworkflow.util.logs import logging_to
from homeworkflow.models.posterior.comparison import compare_models

with logging_to(snakemake.log[0]) as log:
    fits = {name: az.from_netcdf(path) for name, path in zip(snakemake.params.models, snakemake.input.posteriors)}
    comparison = compare_models(fits)
    log.info("LOO comparison of %s:\n%s", ", ".join(fits), comparison.to_string(index=False))
    write_table(comparison, snakemake.output.table)
    save_figure(comparison_figure(comparison), snakemake.output.figure)
