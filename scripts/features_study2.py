"""Rule adapter: Study 2 session and interval tables, Table 1 and the flow table."""

import pandas as pd

from homeworkflow.data.chain import OUTCOMES, derived_tables
from homeworkflow.data.descriptives import to_markdown
from homeworkflow.util.io import read_table, write_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    params, output = snakemake.params, snakemake.output
    tables = {n: read_table(p) for n, p in zip(params.tables, snakemake.input.tables)}
    derived = derived_tables(
        "study2", tables, baseline_centre=params.baseline_centre, min_cell=params.min_cell
    )
    write_table(derived["sessions"], output.sessions)
    for outcome in OUTCOMES:
        write_table(derived[f"intervals_{outcome}"], output[f"intervals_{outcome}"])
    flow = [read_table(snakemake.input.flow), *derived["interval_flow"]]
    write_table(pd.concat(flow, ignore_index=True), output.flow)
    write_table(derived["table1"], output.table1)
    write_table(to_markdown(derived["table1"]), output.table1_md)
