"""Rule adapter: Study 2 figures (recommendations and review per session, review vs symptom
change, slopes per severity band, Bayesian vs GEE, naive vs corrected)."""

import arviz as az

from homeworkflow.figures import study2
from homeworkflow.figures.style import save_figure
from homeworkflow.io import read_table
from homeworkflow.logs import logging_to
from homeworkflow.study2 import BAND_BASELINES

with logging_to(snakemake.log[0]):
    inputs, out, params = snakemake.input, snakemake.output, snakemake.params
    outcomes = list(params.outcomes)

    def per_outcome(paths):
        return {outcome: read_table(path) for outcome, path in zip(outcomes, paths)}

    save_figure(study2.session_distributions_figure(read_table(inputs.sessions)), out.session_distributions)
    panels = {}
    for outcome, intervals_path, posterior_path in zip(outcomes, inputs.intervals, inputs.posteriors):
        intervals = read_table(intervals_path)
        bands = BAND_BASELINES[outcome]
        posterior = az.from_netcdf(posterior_path).posterior
        lines = study2.regression_lines(
            posterior,
            study2.band_mean_baselines(intervals, bands),
            params.centres[outcome],
            review_max=float(intervals["review_percentage"].quantile(0.98)),
        )
        panels[outcome] = (study2.binned_change(intervals, bands, params.min_cell), lines)
    save_figure(study2.review_change_figure(panels), out.review_vs_change)
    save_figure(study2.severity_slopes_figure(per_outcome(inputs.slopes)), out.severity_slopes)
    save_figure(study2.bayes_vs_gee_figure(per_outcome(inputs.bayes_vs_gee)), out.bayes_vs_gee)
    save_figure(study2.naive_vs_corrected_figure(per_outcome(inputs.naive_vs_corrected)), out.naive_vs_corrected)
