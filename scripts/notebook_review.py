"""Rule adapter: execute a review notebook with papermill (parameters: the run name and the
reviewed models' settings) and export the executed notebook to HTML.

The HTML is self-contained (no scripts from the web). Papermill's Python API runs the kernel with this interpreter (the `python3` kernel of ipykernel),
so nothing has to be on PATH.
"""

import os
import re
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter

from homeworkflow.util.io import atomic_path
from homeworkflow.util.logs import logging_to

with logging_to(snakemake.log[0]) as log:
    workdir = os.getcwd()
    parameters = {**snakemake.params.parameters, "root": workdir}
    log.info("executing %s with parameters %s", snakemake.input.notebook, parameters)
    with atomic_path(Path(snakemake.output.notebook)) as executed:
        papermill.execute_notebook(
            snakemake.input.notebook,
            str(executed),
            parameters=parameters,
            kernel_name="python3",
            cwd=workdir,
            progress_bar=False,
            request_save_on_cell_execute=False,
        )
        notebook = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook)
    # Self-contained: the review notebooks use neither MathJax nor widgets, so drop the CDN scripts.
    body = re.sub(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>\n?', "", body)
    with atomic_path(Path(snakemake.output.html)) as page:
        page.write_text(body, encoding="utf-8")
