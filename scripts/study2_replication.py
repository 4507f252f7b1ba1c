"""Rule adapter: Study 2 descriptives beside the published values."""

from homeworkflow.util.io import read_table, write_table
from homeworkflow.util.logs import logging_to
from homeworkflow.study2 import descriptive_replication

with logging_to(snakemake.log[0]):
    sessions = read_table(snakemake.input.sessions)
    write_table(descriptive_replication(sessions), snakemake.output[0])
