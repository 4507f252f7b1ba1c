"""Rule adapter: expected outcomes of one model over its configured prediction grids."""

from pathlib import Path

import arviz as az
import pandas as pd

from homeworkflow.models import ModelSpec
from homeworkflow.models.posterior.predictions import Grid, expected_outcome, grid_columns, grid_rows, summarise
from homeworkflow.presentation.figures.models import conditional_effects_figure
from homeworkflow.presentation.figures.style import save_figure
from homeworkflow.util.io import read_table, write_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]) as log:
    model = snakemake.wildcards.model
    spec = ModelSpec.from_config(model, dict(snakemake.params.settings))
    data = read_table(snakemake.input.data, missing_codes=snakemake.params.missing_codes)
    posterior = az.from_netcdf(snakemake.input.posterior).posterior
    files = dict(zip([g for g, c in snakemake.params.grids.items() if "file" in c], snakemake.input.rows))
    tables, figures = [], {}
    for name, cfg in snakemake.params.grids.items():
        rows = read_table(files[name], missing_codes=snakemake.params.missing_codes) if name in files else None
        grid = Grid.from_config(model, name, dict(cfg), rows)
        new_rows = grid_rows(grid, data, spec.formula, spec.reference_levels)
        table = summarise(grid, new_rows, expected_outcome(posterior, data, new_rows, spec, grid.groups, spec.seed))
        columns = grid_columns(grid, new_rows)
        varied = [c for c in columns if table[c].nunique() > 1] or columns[:1]
        figures[name] = conditional_effects_figure(table, varied, f"expected {model.replace('_', ' ')}")
        tables.append(table)
        log.info("grid %s: %d rows, groups %s", name, len(table), grid.groups)
    outdir = Path(snakemake.output.figures)
    outdir.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        save_figure(figure, outdir / f"{name}.png")
    write_table(pd.concat(tables, ignore_index=True), snakemake.output.table)
