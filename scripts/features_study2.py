"""Rule adapter: Study 2 session and interval tables, Table 1 and the flow table."""

import pandas as pd

from homeworkflow.descriptives import table1_study2, to_markdown
from homeworkflow.features import study2_intervals, study2_sessions
from homeworkflow.io import read_table, write_table
from homeworkflow.logs import logging_to

with logging_to(snakemake.log[0]):
    params, output = snakemake.params, snakemake.output
    tables = {n: read_table(p) for n, p in zip(params.tables, snakemake.input.tables)}
    write_table(study2_sessions(tables), output.sessions)
    flow = [read_table(snakemake.input.flow)]
    for outcome in ("phq9", "gad7"):
        intervals, flow_rows = study2_intervals(
            tables, outcome, centre=params.baseline_centre[outcome]
        )
        write_table(intervals, output[f"intervals_{outcome}"])
        flow.append(pd.DataFrame(flow_rows))
    write_table(pd.concat(flow, ignore_index=True), output.flow)
    table1 = table1_study2(tables, min_cell=params.min_cell)
    write_table(table1, output.table1)
    write_table(to_markdown(table1), output.table1_md)
