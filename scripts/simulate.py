"""Rule adapter: simulate one study's tables and write them with the true parameters."""

from homeworkflow.util.io import write_json, write_table
from homeworkflow.util.logs import logging_to
from homeworkflow.simulate import simulate_study1, simulate_study2

SIMULATORS = {"study1": simulate_study1, "study2": simulate_study2}

with logging_to(snakemake.log[0]) as log:
    params = snakemake.params
    tables, truth = SIMULATORS[params.study](dict(params.settings), seed=params.seed)
    for name, path in zip(params.tables, snakemake.output.tables):
        write_table(tables[name], path)
        log.info("wrote %s: %d rows", path, len(tables[name]))
    write_json(truth, snakemake.output.truth)
