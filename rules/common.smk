# Config validation, the workflow's paths, and the input and params functions the rules call,
# shared by all rule files; these define no functions themselves (`snakemake --lint`).
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

from homeworkflow.data.contract import STUDIES  # noqa: E402
from homeworkflow.models.spec.families import get_family  # noqa: E402
from homeworkflow.util.config import model_settings, DERIVED_TABLE_NAMES  # noqa: E402
from homeworkflow.design import settings as design_settings  # noqa: E402
from homeworkflow.design.settings import check_design_config  # noqa: E402

validate(config, "../config/schema.yaml", set_default=True)
if config.get("design"):
    # Fills the section's defaults even where config/schema.yaml does not carry it.
    validate(config["design"], "../config/design.schema.yaml", set_default=True)
    check_design_config(config["design"])

RUN = config["run"]
MODELS = list(config["models"])
LOGISTIC_MODELS = [m for m in MODELS if config["models"][m]["family"] == "bernoulli"]
# Other families with a ratio scale (odds or rate ratios) get effects.csv; bernoulli keeps odds_ratios.csv.
RATIO_MODELS = [
    m
    for m in MODELS
    if m not in LOGISTIC_MODELS and get_family(config["models"][m]["family"]).ratio
]
COMPARISONS = config["compare"]
for comparison, names in COMPARISONS.items():
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(
            f"config: compare.{comparison} names model(s) {', '.join(unknown)}, "
            f"which are not under models: ({', '.join(MODELS)})"
        )
    sources = {m: config["models"][m]["data"] for m in names}
    if len(set(sources.values())) > 1:
        raise ValueError(
            f"config: compare.{comparison} compares models fitted to different data "
            f"({', '.join(f'{m}: {d}' for m, d in sources.items())}); LOO needs the same rows"
        )
for outcome, model in config["study2"]["outcome_models"].items():
    if model not in MODELS:
        raise ValueError(
            f"config: study2.outcome_models.{outcome} names model '{model}', "
            f"which is not under models: ({', '.join(MODELS)}). A config file's models: "
            "replaces the default config's: copy the workflow's own models beside yours"
        )


wildcard_constraints:
    run=r"[A-Za-z0-9_.-]+",
    study="study1|study2",
    outcome="phq9|gad7",
    model="|".join(MODELS) or "^$",
    comparison="|".join(COMPARISONS) or "^$",


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


# Where each run writes the derived tables a model's `data` may name.
DERIVED_TABLES = {
    "study1/sessions": "results/{run}/study1/analysis/sessions.parquet",
    "study2/sessions": "results/{run}/study2/analysis/sessions.parquet",
    "study2/intervals_phq9": "results/{run}/study2/analysis/intervals_phq9.parquet",
    "study2/intervals_gad7": "results/{run}/study2/analysis/intervals_gad7.parquet",
}
assert set(DERIVED_TABLES) == set(
    DERIVED_TABLE_NAMES
), "rules/common.smk: derived tables"


def model_data(wildcards):
    """The table a model is fitted to: a derived table of this run, or a user's file."""
    data = config["models"][wildcards.model]["data"]
    return DERIVED_TABLES.get(data, data).format(run=wildcards.run)


# Keys of a model computed from its fit, not part of it: changing them never refits the model.
MODEL_OUTPUT_KEYS = ("predictions", "prior_predictive")


def model_config(wildcards):
    settings = model_settings(config, wildcards.model)
    return {k: v for k, v in settings.items() if k not in MODEL_OUTPUT_KEYS}


def model_family(wildcards):
    return config["models"][wildcards.model]["family"]


def prediction_grids(wildcards):
    return config["models"][wildcards.model].get("predictions", {})


def prediction_files(wildcards):
    """Input function: the tables of new rows of a model's file grids, in the grids' order."""
    return [g["file"] for g in prediction_grids(wildcards).values() if "file" in g]


def prior_compile_cache_dir(wildcards):
    """The prior predictive check's own compile cache, apart from the fit's (they may run together)."""
    return f".cache/compile/{wildcards.model}.prior"


def comparison_models(wildcards):
    return COMPARISONS[wildcards.comparison]


def comparison_posteriors(wildcards):
    """Input function: the posteriors of the models a comparison names, in its order."""
    return [
        f"results/{wildcards.run}/models/{m}/posterior.nc"
        for m in COMPARISONS[wildcards.comparison]
    ]


def run_products(wildcards):
    """Every result of a run except its manifest."""
    run_dir = f"results/{wildcards.run}"
    return [
        f"{run_dir}/study1/table1.csv",
        f"{run_dir}/study2/table1.csv",
        *expand(f"{run_dir}/models/{{model}}/summary.csv", model=MODELS),
        *expand(f"{run_dir}/models/{{model}}/odds_ratios.csv", model=LOGISTIC_MODELS),
        *expand(f"{run_dir}/models/{{model}}/effects.csv", model=RATIO_MODELS),
        *[
            f"{run_dir}/models/{m}/predictions.csv"
            for m in MODELS
            if config["models"][m].get("predictions")
        ],
        *[
            f"{run_dir}/models/{m}/prior_predictive.csv"
            for m in MODELS
            if config["models"][m].get("prior_predictive")
        ],
        *expand(
            f"{run_dir}/comparisons/{{comparison}}/comparison.{{ext}}",
            comparison=COMPARISONS,
            ext=["csv", "png"],
        ),
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


# Study design (rules/design.smk), active with a `design:` section: replicate params, files, targets.


def power_replicate_settings(wildcards):
    """Params of one power replicate: shared settings, its design point, effect and number."""
    return design_settings.power_replicate_settings(
        config, wildcards.design, wildcards.effect, wildcards.replicate
    )


def power_replicate_files(wildcards):
    """Every replicate of the power analysis, design by design, effect by effect."""
    n = design_settings.section(config, "power")["replicates"]
    return [
        f"results/{wildcards.run}/design/power/{design}/{effect}/{r}.csv"
        for design in design_settings.power_points(config)
        for effect in design_settings.power_effects(config)
        for r in range(1, n + 1)
    ]


def power_design_sizes(wildcards):
    points = design_settings.power_points(config)
    return {label: point.as_dict() for label, point in points.items()}


def sbc_replicate_settings(wildcards):
    return design_settings.sbc_replicate_settings(config, wildcards.replicate)


def sbc_replicate_files(wildcards):
    n = design_settings.section(config, "sbc")["replicates"]
    return [f"results/{wildcards.run}/design/sbc/{r}.csv" for r in range(1, n + 1)]


def study2_replicate_settings(wildcards):
    return design_settings.study2_replicate_settings(
        config, wildcards.effect, wildcards.replicate
    )


def study2_replicate_files(wildcards):
    """Every Study 2 replicate, value by value."""
    n = design_settings.section(config, "study2")["replicates"]
    return [
        f"results/{wildcards.run}/design/study2/{label}/{r}.csv"
        for label in design_settings.study2_values(config)
        for r in range(1, n + 1)
    ]


def design_setting(section, key):
    """Params function: one setting of design.<section>."""
    return lambda wildcards: design_settings.section(config, section)[key]


def design_mem_mb(wildcards, attempt):
    """Memory of a replicate fit (about 0.5 GB measured), growing with each retry."""
    return 1500 * attempt


def design_runtime(wildcards, attempt):
    """Minutes of a replicate fit (under a minute measured at the default sizes), per retry."""
    return 20 * attempt


def design_products(run):
    """Tables and figures of the power analysis, the SBC and the Study 2 recovery of `run`; []
    without a `design:` section (a part with `replicates: 0` is left out)."""
    design = config.get("design")
    if not design:
        return []
    products = []
    for part, name in (("power", "power"), ("sbc", "sbc"), ("study2", "recovery")):
        if design[part]["replicates"] > 0:
            products += [
                f"results/{run}/design/{part}/{name}.csv",
                f"results/{run}/design/{part}/{name}.png",
            ]
    return products


# Presentation (rules/report.smk): what a run presents and the files each rule reads.
STUDY1_FIGURES = (
    "odds_ratios",
    "predicted_probability",
    "therapist_effects",
    "posterior_predictive",
)
STUDY2_FIGURES = (
    "session_distributions",
    "review_vs_change",
    "severity_slopes",
    "bayes_vs_gee",
    "naive_vs_corrected",
)
FIGURE_FORMATS = ("png", "pdf")
TABLE_FORMATS = ("csv", "md", "tex", "html")
NOTEBOOK_FORMATS = ("ipynb", "html")
STUDY1_TABLES = ("table1_study1", "table2_homework_odds_ratios")
STUDY2_TABLES = ("table1_study2", "table3_outcome_models", "table_study2_replication")
DIAGNOSTICS_TABLES = ("table_diagnostics",)
STUDY1_NOTEBOOK = "01_study1_review"
STUDY2_NOTEBOOK = "02_study2_review"
# The Study 1 homework model: the first bernoulli model of study1/sessions (None: no Study 1
# model figures, tables or notebook).
STUDY1_MODEL = next(
    (
        m
        for m in MODELS
        if config["models"][m].get("data") == "study1/sessions"
        and config["models"][m].get("family", "bernoulli") == "bernoulli"
    ),
    None,
)
OUTCOME_MODELS = dict(config["study2"]["outcome_models"])
OUTCOMES = list(OUTCOME_MODELS)


def presentation_products(run):
    """Every final figure (PNG, PDF), table (CSV, Markdown, LaTeX, HTML) and executed review
    notebook (.ipynb, .html) of `run`."""
    base = f"results/{run}"
    figures = [f"study2/{name}" for name in STUDY2_FIGURES]
    figures += [f"diagnostics/rank_{model}" for model in MODELS]
    tables = [*STUDY2_TABLES, *DIAGNOSTICS_TABLES]
    notebooks = [STUDY2_NOTEBOOK]
    if STUDY1_MODEL:
        figures = [f"study1/{name}" for name in STUDY1_FIGURES] + figures
        tables = [*STUDY1_TABLES, *tables]
        notebooks.insert(0, STUDY1_NOTEBOOK)
    return [
        *(f"{base}/figures/{f}.{ext}" for f in figures for ext in FIGURE_FORMATS),
        *(f"{base}/tables/{t}.{ext}" for t in tables for ext in TABLE_FORMATS),
        *(f"{base}/notebooks/{n}.{ext}" for n in notebooks for ext in NOTEBOOK_FORMATS),
    ]


def study1_model_file(name):
    """Input function: a file of the Study 1 homework model."""

    def path(wildcards):
        return f"results/{wildcards.run}/models/{STUDY1_MODEL}/{name}"

    return path


def outcome_model_files(name):
    """Input function: a file of each outcome's Bayesian model, in OUTCOMES order."""

    def paths(wildcards):
        return [
            f"results/{wildcards.run}/models/{OUTCOME_MODELS[o]}/{name}"
            for o in OUTCOMES
        ]

    return paths


def rank_plots(models):
    """Input function: the rank-plot PNGs of `models` (each once)."""
    unique = [m for m in dict.fromkeys(models) if m]

    def paths(wildcards):
        return [
            f"results/{wildcards.run}/figures/diagnostics/rank_{m}.png" for m in unique
        ]

    return paths


def notebook_parameters(models):
    """Params function: a review notebook's papermill parameters (run name and the settings of
    the models it reviews, priors included)."""
    unique = [m for m in dict.fromkeys(models) if m]

    def parameters(wildcards):
        return {
            "run": wildcards.run,
            "models": {m: model_settings(config, m) for m in unique},
        }

    return parameters
