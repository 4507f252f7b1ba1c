# Homework in psychotherapy: simulated or own data -> features -> Bayesian models -> figures, report.
from snakemake.utils import min_version

min_version("9.20")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/transcripts.smk"
include: "rules/models.smk"
include: "rules/study2.smk"
include: "rules/report.smk"
include: "rules/design.smk"
include: "rules/outputs.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
