"""Rule adapter: Study 2 Table 1, Table 3 (outcome models, Bayesian beside GEE) and the
descriptive replication."""

from homeworkflow.presentation import tables
from homeworkflow.util.io import read_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    inputs, out = snakemake.input, snakemake.output
    tables.write_table_formats(tables.table1(read_table(inputs.table1), "study2"), out.table1_html)
    comparisons = {o: read_table(p) for o, p in zip(snakemake.params.outcomes, inputs.bayes_vs_gee)}
    tables.write_table_formats(tables.outcome_models_table(comparisons), out.table3_html)
    tables.write_table_formats(tables.replication_table(read_table(inputs.replication)), out.replication_html)
