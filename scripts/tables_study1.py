"""Rule adapter: Study 1 Table 1 and Table 2 (odds ratios of the homework model)."""

from homeworkflow.presentation import tables
from homeworkflow.presentation.labels import reference_levels_of
from homeworkflow.util.io import read_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    inputs, out = snakemake.input, snakemake.output
    tables.write_table_formats(tables.table1(read_table(inputs.table1), "study1"), out.table1_html)
    odds_ratios = read_table(inputs.odds_ratios)
    references = reference_levels_of(read_table(inputs.sessions), odds_ratios["term"])
    table2 = tables.odds_ratio_table(
        odds_ratios, read_table(inputs.summary), read_table(inputs.variance_partition), references
    )
    tables.write_table_formats(table2, out.table2_html)
