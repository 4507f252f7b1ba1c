"""Rule adapter: synthetic transcripts with known recommendation and review counts."""

from homeworkflow.util.io import read_table, write_table
from homeworkflow.util.logs import logging_to
from homeworkflow.transcripts import simulate_transcripts

with logging_to(snakemake.log[0]) as log:
    sessions = read_table(snakemake.input.sessions)
    utterances = simulate_transcripts(sessions, seed=snakemake.params.seed)
    write_table(utterances, snakemake.output[0])
    log.info("%d utterances in %d sessions", len(utterances), sessions["session_id"].nunique())
