"""Rule adapter: the outcome model with the true review percentage latent, beside the naive one."""

import json
from pathlib import Path

from homeworkflow.util.io import read_table, write_table
from homeworkflow.util.logs import logging_to
from homeworkflow.models import configure_compile_cache

configure_compile_cache(Path(snakemake.params.compile_cache))

from homeworkflow.study2 import (  # noqa: E402
    detector_rates_from_validation,
    fit_measurement_error_model,
)
from homeworkflow.study2.comparison import corrected_vs_naive  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    detection = params.detection
    validation = read_table(inputs.validation[0]) if inputs.validation else None
    if validation is not None and validation["human"].sum() > 0:
        rates = detector_rates_from_validation(validation)
        log.info("detector rates from %s: %s", inputs.validation[0], rates)
    else:
        rates = {"precision": detection["precision"], "recall": detection["recall"]}
    sampling = params.sampling
    idata, summary = fit_measurement_error_model(
        read_table(inputs.intervals),
        read_table(inputs.sessions),
        seed=params.seed,
        draws=sampling["draws"],
        tune=sampling["tune"],
        chains=sampling["chains"],
        threads=snakemake.threads,
        disk_cache=True,
        **rates,
    )
    write_table(summary, snakemake.output.summary)
    idata.to_netcdf(snakemake.output.posterior)
    truth = json.loads(Path(inputs.truth).read_text()) if inputs.truth else None
    naive = read_table(inputs.naive)
    comparison = corrected_vs_naive(naive, summary, truth, snakemake.wildcards.outcome, params.centre)
    write_table(comparison, snakemake.output.comparison)
