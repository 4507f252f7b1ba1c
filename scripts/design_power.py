"""Rule adapter: power and coverage per design point and effect size (table, Markdown, figure)."""

from homeworkflow.design.power import coverage_table, power_table
from homeworkflow.design.replicates import read_replicates
from homeworkflow.design.reports import power_figure, power_markdown
from homeworkflow.design.settings import DesignPoint
from homeworkflow.presentation.figures.style import save_figure
from homeworkflow.util.io import write_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]) as log:
    params, output = snakemake.params, snakemake.output
    replicates = read_replicates(snakemake.input)
    designs = {label: DesignPoint(**sizes) for label, sizes in params.designs.items()}
    power = power_table(replicates, params.term, designs)
    write_table(power, output.table)
    write_table(power_markdown(power, params.term, params.parameter), output.markdown)
    write_table(coverage_table(replicates), output.coverage)
    save_figure(power_figure(power, params.term), output.figure)
    log.info("power of %s:\n%s", params.term, power.to_string(index=False))
