"""Rule adapter: validate a study's input tables, pseudonymise IDs and clean them."""

from homeworkflow.data.chain import cleaned_tables
from homeworkflow.util.io import write_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]) as log:
    params = snakemake.params
    paths = {name: snakemake.input[name] for name in params.tables}
    tables, flow = cleaned_tables(
        params.study, paths=paths, missing_codes=params.missing_codes, salt=params.salt
    )
    for name, path in zip(params.tables, snakemake.output.tables):
        write_table(tables[name], path)
    write_table(flow, snakemake.output.flow)
    log.info("flow:\n%s", flow.to_string(index=False))
