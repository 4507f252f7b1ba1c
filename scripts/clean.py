"""Rule adapter: validate a study's input tables, pseudonymise IDs and clean them."""

from homeworkflow.clean import clean_study1, clean_study2
from homeworkflow.io import write_table
from homeworkflow.logs import logging_to
from homeworkflow.privacy import pseudonymise
from homeworkflow.validate import load_study

CLEANERS = {"study1": clean_study1, "study2": clean_study2}

with logging_to(snakemake.log[0]) as log:
    params = snakemake.params
    paths = {name: snakemake.input[name] for name in params.tables}
    tables = load_study(params.study, paths, missing_codes=params.missing_codes)
    tables = pseudonymise(tables, params.study, params.salt)
    tables, flow = CLEANERS[params.study](tables)
    for name, path in zip(params.tables, snakemake.output.tables):
        write_table(tables[name], path)
    write_table(flow, snakemake.output.flow)
    log.info("flow:\n%s", flow.to_string(index=False))
