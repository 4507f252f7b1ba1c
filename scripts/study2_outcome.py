"""Rule adapter: the published GEE beside the Bayesian model, and slopes per severity band."""

import arviz as az
import pandas as pd

from homeworkflow.util.io import read_table, write_table
from homeworkflow.util.logs import logging_to
from homeworkflow.study2 import BAND_BASELINES, gee_result, gee_severity_slopes, gee_table, severity_slopes
from homeworkflow.study2.comparison import bayes_vs_gee

with logging_to(snakemake.log[0]):
    outcome, centre = snakemake.wildcards.outcome, snakemake.params.centre
    intervals = read_table(snakemake.input.intervals)
    gee = gee_result(intervals)
    write_table(gee_table(gee), snakemake.output.gee)

    posterior = az.from_netcdf(snakemake.input.posterior).posterior
    draws = {term: posterior["b"].sel(term=term).values for term in posterior["term"].values}
    bands = BAND_BASELINES[outcome]
    slopes = pd.concat(
        [severity_slopes(draws, bands, centre), gee_severity_slopes(gee, bands, centre)],
        ignore_index=True,
    )
    write_table(slopes, snakemake.output.slopes)
    summary = read_table(snakemake.input.summary)
    write_table(bayes_vs_gee(summary, gee_table(gee)), snakemake.output.comparison)
