"""Rule adapter: the prior predictive check of one model, a table and a figure."""

from pathlib import Path

from homeworkflow.models.backend.cache import configure_compile_cache
from homeworkflow.util.logs import logging_to

configure_compile_cache(Path(snakemake.params.compile_cache))

from homeworkflow.models import ModelSpec  # noqa: E402
from homeworkflow.models.fit import prior_predictive_check  # noqa: E402
from homeworkflow.presentation.figures.models import predictive_check_figure  # noqa: E402
from homeworkflow.presentation.figures.style import save_figure  # noqa: E402
from homeworkflow.util.io import read_table, write_table  # noqa: E402

with logging_to(snakemake.log[0]):
    spec = ModelSpec.from_config(snakemake.wildcards.model, dict(snakemake.params.settings))
    data = read_table(snakemake.input.data, missing_codes=snakemake.params.missing_codes)
    check = prior_predictive_check(data, spec)
    figure = predictive_check_figure(check, f"Prior predictive check: {spec.name}")
    write_table(check, snakemake.output.table)
    save_figure(figure, snakemake.output.figure)
