"""Rule adapter: Study 2 figures (recommendations and review per session, review vs symptom
change, slopes per severity band, Bayesian vs GEE, naive vs corrected)."""

from homeworkflow.presentation.figures import study1, study2
from homeworkflow.presentation.figures.style import save_figure
from homeworkflow.util.io import read_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    inputs, out, params = snakemake.input, snakemake.output, snakemake.params
    outcomes = list(params.outcomes)

    def per_outcome(paths):
        return {outcome: read_table(path) for outcome, path in zip(outcomes, paths)}

    save_figure(study2.session_distributions_figure(read_table(inputs.sessions)), out.session_distributions)
    slopes = per_outcome(inputs.slopes)
    panels = {
        outcome: study2.review_change_panel(
            read_table(intervals),
            study1.read_posterior(posterior),
            study2.bands_of(slopes[outcome]),
            params.centres[outcome],
            params.min_cell,
        )
        for outcome, intervals, posterior in zip(outcomes, inputs.intervals, inputs.posteriors)
    }
    save_figure(study2.review_change_figure(panels), out.review_vs_change)
    save_figure(study2.severity_slopes_figure(slopes), out.severity_slopes)
    save_figure(study2.bayes_vs_gee_figure(per_outcome(inputs.bayes_vs_gee)), out.bayes_vs_gee)
    save_figure(study2.naive_vs_corrected_figure(per_outcome(inputs.naive_vs_corrected)), out.naive_vs_corrected)
