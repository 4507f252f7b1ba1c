"""Rule adapter: Study 2 recovery over all replicates (table, Markdown, figure)."""

from homeworkflow.design.recovery import recovery_table
from homeworkflow.design.replicates import read_replicates
from homeworkflow.design.reports import recovery_figure, recovery_markdown
from homeworkflow.presentation.figures.style import save_figure
from homeworkflow.util.io import write_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]) as log:
    params, output = snakemake.params, snakemake.output
    replicates = read_replicates(snakemake.input)
    table = recovery_table(replicates)
    write_table(table, output.table)
    write_table(recovery_markdown(table, params.parameter, params.exposure), output.markdown)
    write_table(replicates, output.replicates)
    save_figure(recovery_figure(replicates, params.term, params.parameter), output.figure)
    log.info("Study 2 recovery:\n%s", table.to_string(index=False))
