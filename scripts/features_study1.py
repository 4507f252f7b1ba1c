"""Rule adapter: Study 1 analysis table (one row per session), Table 1 and the flow table."""

from homeworkflow.data.chain import derived_tables
from homeworkflow.data.descriptives import to_markdown
from homeworkflow.util.io import read_table, write_json, write_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    params, output = snakemake.params, snakemake.output
    tables = {n: read_table(p) for n, p in zip(params.tables, snakemake.input.tables)}
    derived = derived_tables(
        "study1",
        tables,
        reference_levels=params.reference_levels,
        centre=params.centre,
        min_cell=params.min_cell,
    )
    write_table(derived["sessions"], output.sessions)
    write_json(derived["scaling"], output.scaling)
    write_table(read_table(snakemake.input.flow), output.flow)
    write_table(derived["table1"], output.table1)
    write_table(to_markdown(derived["table1"]), output.table1_md)
