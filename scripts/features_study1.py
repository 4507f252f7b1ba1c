"""Rule adapter: Study 1 analysis table (one row per session), Table 1 and the flow table."""

from homeworkflow.descriptives import table1_study1, to_markdown
from homeworkflow.features import study1_sessions
from homeworkflow.io import read_table, write_json, write_table
from homeworkflow.logs import logging_to

with logging_to(snakemake.log[0]):
    params, output = snakemake.params, snakemake.output
    tables = {n: read_table(p) for n, p in zip(params.tables, snakemake.input.tables)}
    sessions, scaling = study1_sessions(tables, params.reference_levels, params.centre)
    write_table(sessions, output.sessions)
    write_json(scaling, output.scaling)
    write_table(read_table(snakemake.input.flow), output.flow)
    table1 = table1_study1(tables, min_cell=params.min_cell)
    write_table(table1, output.table1)
    write_table(to_markdown(table1), output.table1_md)
