"""Rule adapter: SBC rank histograms and uniformity tests over all replicates."""

from homeworkflow.design.replicates import read_replicates
from homeworkflow.design.reports import sbc_figure, sbc_markdown
from homeworkflow.design.sbc import sbc_table
from homeworkflow.presentation.figures.style import save_figure
from homeworkflow.util.io import write_table
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]) as log:
    params, output = snakemake.params, snakemake.output
    ranks = read_replicates(snakemake.input)
    table = sbc_table(ranks, params.bins, params.alpha)
    write_table(table, output.table)
    write_table(sbc_markdown(table, params.alpha), output.markdown)
    write_table(ranks, output.ranks)
    save_figure(sbc_figure(ranks, params.bins), output.figure)
    log.info("SBC:\n%s", table.to_string(index=False))
    if not table["calibrated"].all():
        log.warning("SBC: miscalibration in %s", list(table.loc[~table["calibrated"], "term"]))
