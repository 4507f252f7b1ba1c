# The only place that reads config: validation, paths, input functions.
import os
import sys

from snakemake.utils import validate

# jsonschema imports rfc3987_syntax, which spends about 1.8 s building a parser for the "iri"
# format check our schemas never use (python-jsonschema/jsonschema#1428): keep it out.
sys.modules.setdefault("rfc3987_syntax", None)

# The workflow's Python package, importable here and in every job's script.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
)

from homeworkflow.contract import STUDIES  # noqa: E402
from homeworkflow.config import model_settings, DERIVED_TABLES  # noqa: E402

validate(config, "../config/schema.yaml", set_default=True)

RUN = config["run"]
MODELS = list(config["models"])
LOGISTIC_MODELS = [m for m in MODELS if config["models"][m]["family"] == "bernoulli"]
for outcome, model in config["study2"]["outcome_models"].items():
    if model not in MODELS:
        raise ValueError(
            f"config: study2.outcome_models.{outcome} names model '{model}', "
            f"which is not under models: ({', '.join(MODELS)})"
        )


wildcard_constraints:
    run=r"[A-Za-z0-9_.-]+",
    study="study1|study2",
    outcome="phq9|gad7",
    model="|".join(MODELS) or "^$",


def given_tables(study):
    """A study's input tables as given: the simulator's output or the user's files."""
    tables = list(STUDIES[study])
    if config[study]["source"] == "simulated":
        return {t: f"results/{{run}}/{study}/simulated/{t}.csv" for t in tables}
    files = config[study]["files"]
    missing = [t for t in tables if t not in files]
    if missing:
        raise ValueError(f"config: {study}.files lacks {', '.join(missing)}")
    return {t: files[t] for t in tables}


TRANSCRIPTS = config["study2"]["transcripts"]["source"]
if TRANSCRIPTS == "simulated" and config["study2"]["source"] != "simulated":
    raise ValueError(
        "config: study2.transcripts.source 'simulated' needs study2.source 'simulated'"
    )


def study_inputs(study):
    """Input function: the tables a study's validation reads. With transcripts, Study 2's
    session features are the ones derived from them."""
    paths = given_tables(study)
    if study == "study2" and TRANSCRIPTS != "none":
        paths["sessions"] = "results/{run}/study2/transcripts/sessions.csv"

    def inputs(wildcards):
        return {t: p.format(run=wildcards.run) for t, p in paths.items()}

    return inputs


def study2_given_sessions(wildcards):
    return given_tables("study2")["sessions"].format(run=wildcards.run)


def transcript_utterances(wildcards):
    if TRANSCRIPTS == "simulated":
        return f"results/{wildcards.run}/study2/transcripts/utterances.parquet"
    return config["study2"]["transcripts"]["utterances"]


def model_data(wildcards):
    """The table a model is fitted to: a derived table of this run, or a user's file."""
    data = config["models"][wildcards.model]["data"]
    return DERIVED_TABLES.get(data, data).format(run=wildcards.run)


def model_config(wildcards):
    return model_settings(config, wildcards.model)


def run_products(wildcards):
    """Every result of a run except its manifest."""
    run_dir = f"results/{wildcards.run}"
    return [
        f"{run_dir}/study1/table1.csv",
        f"{run_dir}/study2/table1.csv",
        *expand(f"{run_dir}/models/{{model}}/summary.csv", model=MODELS),
        *expand(f"{run_dir}/models/{{model}}/odds_ratios.csv", model=LOGISTIC_MODELS),
        f"{run_dir}/study2/replication.csv",
        *expand(
            f"{run_dir}/study2/{{outcome}}/{{table}}.csv",
            outcome=config["study2"]["outcome_models"],
            table=["bayes_vs_gee", "naive_vs_corrected"],
        ),
        *presentation_products(wildcards.run),
        *design_products(wildcards.run),
    ]


def run_inputs(wildcards):
    """The files a run reads: simulated tables or the user's own."""
    paths = [
        p.format(run=wildcards.run) for s in STUDIES for p in given_tables(s).values()
    ]
    if TRANSCRIPTS == "file":
        paths.append(config["study2"]["transcripts"]["utterances"])
    return paths


def run_seeds():
    return {
        "master": config["seed"],
        "models": {m: model_settings(config, m)["seed"] for m in MODELS},
    }


def final_outputs():
    """Everything `make run` builds for the configured run."""
    return [f"results/{RUN}/manifest.json"]


def compile_cache_dir(wildcards):
    """A persistent PyTensor/numba cache per model, so parallel jobs never share one."""
    return f".cache/compile/{wildcards.model}"


def model_mem_mb(wildcards, attempt):
    """Memory for a model job, growing with each retry."""
    return 4000 * attempt


def model_runtime(wildcards, attempt):
    """Minutes for a model job, growing with each retry."""
    return 60 * attempt


def outcome_model_file(name):
    """Input function: a file of the Bayesian outcome model configured for an outcome."""

    def path(wildcards):
        model = config["study2"]["outcome_models"][wildcards.outcome]
        return f"results/{wildcards.run}/models/{model}/{name}"

    return path


def baseline_centre(wildcards):
    return config["study2"]["baseline_centre"][wildcards.outcome]


def detector_validation_table(wildcards):
    """Human vs detected review labels: the user's table if configured, else the held-out
    labelled sessions of the transcript step, else none (precision and recall from config).
    """
    table = config["study2"]["detection"].get("validation")
    if table:
        return [table]
    if TRANSCRIPTS != "none":
        return [f"results/{wildcards.run}/study2/transcripts/review_validation.csv"]
    return []


def simulated_truth(study):
    """Input function: the simulator's true parameters, when the study is simulated."""

    def truth(wildcards):
        if config[study]["source"] != "simulated":
            return []
        return f"results/{wildcards.run}/{study}/simulated/truth.json"

    return truth
