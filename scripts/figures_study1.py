"""Rule adapter: Study 1 figures from the homework model (odds ratios, predicted probability,
therapist effects, posterior predictive check)."""

import json
from pathlib import Path

from homeworkflow.presentation.figures import study1
from homeworkflow.presentation.labels import reference_levels_of
from homeworkflow.presentation.figures.style import save_figure
from homeworkflow.util.io import read_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    inputs, out = snakemake.input, snakemake.output
    odds_ratios = read_table(inputs.odds_ratios)
    sessions = read_table(inputs.sessions)
    posterior = study1.read_posterior(inputs.posterior)
    scaling = json.loads(Path(inputs.scaling).read_text())

    references = reference_levels_of(sessions, odds_ratios["term"])
    save_figure(study1.odds_ratio_forest_figure(odds_ratios, references), out.odds_ratios)
    curves = study1.probability_curves(posterior, sessions, scaling)
    save_figure(study1.predicted_probability_figure(curves), out.predicted_probability)
    factor = study1.group_factor(posterior, "therapist_id")
    effects = study1.group_effect_intervals(posterior, factor)
    save_figure(study1.caterpillar_figure(effects, factor), out.therapist_effects)
    save_figure(study1.ppc_figure(read_table(inputs.ppc)), out.posterior_predictive)
