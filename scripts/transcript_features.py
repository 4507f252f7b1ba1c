"""Rule adapter: train and evaluate detectors, derive session features from transcripts."""

from homeworkflow.util.io import read_table, write_table
from homeworkflow.util.logs import logging_to
from homeworkflow.transcripts import validate_utterances
from homeworkflow.transcripts.pipeline import (
    derive_features,
    feature_error,
    fit_detectors,
    sessions_with_features,
)

with logging_to(snakemake.log[0]) as log:
    inputs, output, params = snakemake.input, snakemake.output, snakemake.params
    utterances = validate_utterances(read_table(inputs.utterances), inputs.utterances)
    detectors, evaluation, validation = fit_detectors(
        utterances, params.detector, params.labelled_sessions, params.seed, snakemake.threads
    )
    log.info("detector evaluation:\n%s", evaluation.to_string(index=False))
    sessions = sessions_with_features(
        read_table(inputs.sessions), derive_features(utterances, detectors), inputs.sessions
    )
    write_table(sessions, output.sessions)
    write_table(evaluation, output.evaluation)
    write_table(validation, output.validation)
    write_table(feature_error(sessions), output.feature_error)
    detectors["action_recommendation"].save(output.ar_detector)
    detectors["review"].save(output.review_detector)
