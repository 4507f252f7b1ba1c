"""Rule adapter: rank plots of one model's main parameters."""

import arviz as az

from homeworkflow.presentation.figures.diagnostics import rank_plot_figure
from homeworkflow.presentation.figures.style import save_figure
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    posterior = az.from_netcdf(snakemake.input.posterior).posterior
    save_figure(rank_plot_figure(posterior), snakemake.output.png)
