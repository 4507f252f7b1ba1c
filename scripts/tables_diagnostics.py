"""Rule adapter: convergence diagnostics of every model in one table."""

import json
from pathlib import Path

from homeworkflow.presentation import tables
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]):
    diagnostics = {
        model: json.loads(Path(path).read_text())
        for model, path in zip(snakemake.params.models, snakemake.input.diagnostics)
    }
    tables.write_table_formats(tables.diagnostics_table(diagnostics), snakemake.output.html)
