# Presentation: figures, publication tables and executed review notebooks, all in the report.

# The homework model: the logistic model fitted to the Study 1 sessions (None if there is none).
STUDY1_MODEL = next(
    (m for m in LOGISTIC_MODELS if config["models"][m]["data"] == "study1/sessions"),
    None,
)
OUTCOMES = list(config["study2"]["outcome_models"])
STUDY1 = "Study 1: homework use"
STUDY2 = "Study 2: action recommendations"
FIGURES_STUDY1 = [
    "odds_ratios",
    "predicted_probability",
    "therapist_effects",
    "posterior_predictive",
]
TABLE_FORMATS = ["csv", "md", "tex", "html"]
FIGURES_STUDY2 = [
    "session_distributions",
    "review_vs_change",
    "severity_slopes",
    "bayes_vs_gee",
    "naive_vs_corrected",
]


def presentation_products(run):
    """Every final figure (PNG and PDF), table (CSV, Markdown, LaTeX, HTML) and executed
    notebook (.ipynb, .html) of a run."""
    figures, tables, notebooks = (f"results/{run}/{d}" for d in ("figures", "tables", "notebooks"))
    stems = [f"{figures}/study2/{name}" for name in FIGURES_STUDY2]
    stems += [f"{figures}/diagnostics/rank_{model}" for model in MODELS]
    table_stems = ["table1_study1", "table1_study2", "table3_outcome_models"]
    table_stems += ["table_study2_replication", "table_diagnostics"]
    notebook_stems = ["02_study2_review"]
    if STUDY1_MODEL:
        stems += [f"{figures}/study1/{name}" for name in FIGURES_STUDY1]
        table_stems.append("table2_homework_odds_ratios")
        notebook_stems.insert(0, "01_study1_review")
    return [
        *expand("{stem}.{ext}", stem=stems, ext=["png", "pdf"]),
        *expand(f"{tables}/{{stem}}.{{ext}}", stem=table_stems, ext=TABLE_FORMATS),
        *expand(f"{notebooks}/{{stem}}.{{ext}}", stem=notebook_stems, ext=["ipynb", "html"]),
    ]


def study1_model_file(name):
    """Input function: a file of the Study 1 homework model."""

    def path(wildcards):
        return f"results/{wildcards.run}/models/{STUDY1_MODEL}/{name}"

    return path


def outcome_model_files(name):
    """Input function: a file of each outcome's Bayesian model, in OUTCOMES order."""

    def paths(wildcards):
        models = config["study2"]["outcome_models"]
        return [f"results/{wildcards.run}/models/{models[o]}/{name}" for o in OUTCOMES]

    return paths


def outcome_rank_plots(wildcards):
    """Input function: the rank plot of each outcome's Bayesian model."""
    models = dict.fromkeys(config["study2"]["outcome_models"].values())
    return [f"results/{wildcards.run}/figures/diagnostics/rank_{m}.png" for m in models]


def notebook_parameters(models):
    """Params function: a review notebook's papermill parameters (run name, models' settings)."""

    def parameters(wildcards):
        settings = {m: model_settings(config, m) for m in models if m}
        return {"run": wildcards.run, "models": settings}

    return parameters


def figure(study, name, caption, subcategory="Figures"):
    """A figure's PNG, shown in the report under its study."""
    folder = {STUDY1: "study1", STUDY2: "study2"}[study]
    return report(
        f"results/{{run}}/figures/{folder}/{name}.png",
        caption=f"../report/{caption}.rst",
        category=study,
        subcategory=subcategory,
    )


def table_html(name, category, caption):
    """A table's HTML form, shown in the report (CSV, Markdown and LaTeX sit beside it)."""
    return report(
        f"results/{{run}}/tables/{name}.html",
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory="Tables",
    )


def table_files(name):
    return multiext(f"results/{{run}}/tables/{name}", ".csv", ".md", ".tex")


rule presentation:
    input:
        presentation_products(RUN),


rule figures_study1:
    input:
        odds_ratios=study1_model_file("odds_ratios.csv"),
        ppc=study1_model_file("ppc.csv"),
        posterior=study1_model_file("posterior.nc"),
        sessions="results/{run}/study1/analysis/sessions.parquet",
        scaling="results/{run}/study1/analysis/scaling.json",
    output:
        odds_ratios=figure(STUDY1, "odds_ratios", "fig_odds_ratios"),
        predicted_probability=figure(
            STUDY1, "predicted_probability", "fig_predicted_probability"
        ),
        therapist_effects=figure(STUDY1, "therapist_effects", "fig_therapist_effects"),
        posterior_predictive=figure(
            STUDY1, "posterior_predictive", "fig_posterior_predictive"
        ),
        pdfs=expand(
            "results/{{run}}/figures/study1/{name}.pdf", name=FIGURES_STUDY1
        ),
    log:
        "results/{run}/logs/figures_study1.log",
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures_study1.py"


rule figures_study2:
    input:
        sessions="results/{run}/study2/analysis/sessions.parquet",
        intervals=expand(
            "results/{{run}}/study2/analysis/intervals_{outcome}.parquet",
            outcome=OUTCOMES,
        ),
        posteriors=outcome_model_files("posterior.nc"),
        slopes=expand(
            "results/{{run}}/study2/{outcome}/severity_slopes.csv", outcome=OUTCOMES
        ),
        bayes_vs_gee=expand(
            "results/{{run}}/study2/{outcome}/bayes_vs_gee.csv", outcome=OUTCOMES
        ),
        naive_vs_corrected=expand(
            "results/{{run}}/study2/{outcome}/naive_vs_corrected.csv", outcome=OUTCOMES
        ),
    output:
        session_distributions=figure(
            STUDY2, "session_distributions", "fig_session_distributions"
        ),
        review_vs_change=figure(STUDY2, "review_vs_change", "fig_review_vs_change"),
        severity_slopes=figure(STUDY2, "severity_slopes", "fig_severity_slopes"),
        bayes_vs_gee=figure(STUDY2, "bayes_vs_gee", "fig_bayes_vs_gee"),
        naive_vs_corrected=figure(
            STUDY2, "naive_vs_corrected", "fig_naive_vs_corrected"
        ),
        pdfs=expand(
            "results/{{run}}/figures/study2/{name}.pdf", name=FIGURES_STUDY2
        ),
    log:
        "results/{run}/logs/figures_study2.log",
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        outcomes=OUTCOMES,
        centres=config["study2"]["baseline_centre"],
        min_cell=config["privacy"]["min_cell"],
    script:
        "../scripts/figures_study2.py"


rule figures_rank_plot:
    input:
        posterior="results/{run}/models/{model}/posterior.nc",
    output:
        png=report(
            "results/{run}/figures/diagnostics/rank_{model}.png",
            caption="../report/fig_rank_plot.rst",
            category="Diagnostics",
            subcategory="Rank plots",
            labels={"model": "{model}"},
        ),
        pdf="results/{run}/figures/diagnostics/rank_{model}.pdf",
    log:
        "results/{run}/logs/figures_rank_plot_{model}.log",
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures_rank_plot.py"


rule tables_study1:
    input:
        table1="results/{run}/study1/table1.csv",
        odds_ratios=study1_model_file("odds_ratios.csv"),
        summary=study1_model_file("summary.csv"),
        variance_partition=study1_model_file("variance_partition.csv"),
        sessions="results/{run}/study1/analysis/sessions.parquet",
    output:
        table1=table_files("table1_study1"),
        table1_html=table_html("table1_study1", STUDY1, "table1_study1"),
        table2=table_files("table2_homework_odds_ratios"),
        table2_html=table_html(
            "table2_homework_odds_ratios", STUDY1, "table2_odds_ratios"
        ),
    log:
        "results/{run}/logs/tables_study1.log",
    localrule: True
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/tables_study1.py"


rule tables_study2:
    input:
        table1="results/{run}/study2/table1.csv",
        replication="results/{run}/study2/replication.csv",
        bayes_vs_gee=expand(
            "results/{{run}}/study2/{outcome}/bayes_vs_gee.csv", outcome=OUTCOMES
        ),
    output:
        table1=table_files("table1_study2"),
        table1_html=table_html("table1_study2", STUDY2, "table1_study2"),
        table3=table_files("table3_outcome_models"),
        table3_html=table_html("table3_outcome_models", STUDY2, "table3_outcome_models"),
        replication=table_files("table_study2_replication"),
        replication_html=table_html(
            "table_study2_replication", STUDY2, "table_replication"
        ),
    log:
        "results/{run}/logs/tables_study2.log",
    localrule: True
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        outcomes=OUTCOMES,
    script:
        "../scripts/tables_study2.py"


rule tables_diagnostics:
    input:
        diagnostics=expand(
            "results/{{run}}/models/{model}/diagnostics.json", model=MODELS
        ),
    output:
        table=table_files("table_diagnostics"),
        html=table_html("table_diagnostics", "Diagnostics", "table_diagnostics"),
    log:
        "results/{run}/logs/tables_diagnostics.log",
    localrule: True
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        models=MODELS,
    script:
        "../scripts/tables_diagnostics.py"


rule notebook_study1_review:
    input:
        notebook="notebooks/01_study1_review.ipynb",
        figures=expand(
            "results/{{run}}/figures/study1/{name}.png", name=FIGURES_STUDY1
        ),
        rank_plot=expand(
            "results/{{run}}/figures/diagnostics/rank_{model}.png", model=STUDY1_MODEL
        ),
        tables=expand(
            "results/{{run}}/tables/{name}.csv",
            name=["table1_study1", "table2_homework_odds_ratios", "table_diagnostics"],
        ),
        flow="results/{run}/study1/flow.csv",
    output:
        notebook="results/{run}/notebooks/01_study1_review.ipynb",
        html=report(
            "results/{run}/notebooks/01_study1_review.html",
            caption="../report/notebook_study1.rst",
            category=STUDY1,
            subcategory="Review notebook",
        ),
    log:
        "results/{run}/logs/notebook_study1_review.log",
    conda:
        "../envs/notebooks.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        parameters=notebook_parameters([STUDY1_MODEL]),
    script:
        "../scripts/notebook_review.py"


rule notebook_study2_review:
    input:
        notebook="notebooks/02_study2_review.ipynb",
        figures=expand(
            "results/{{run}}/figures/study2/{name}.png", name=FIGURES_STUDY2
        ),
        rank_plots=outcome_rank_plots,
        tables=expand(
            "results/{{run}}/tables/{name}.csv",
            name=[
                "table1_study2",
                "table3_outcome_models",
                "table_study2_replication",
                "table_diagnostics",
            ],
        ),
        flow="results/{run}/study2/flow.csv",
    output:
        notebook="results/{run}/notebooks/02_study2_review.ipynb",
        html=report(
            "results/{run}/notebooks/02_study2_review.html",
            caption="../report/notebook_study2.rst",
            category=STUDY2,
            subcategory="Review notebook",
        ),
    log:
        "results/{run}/logs/notebook_study2_review.log",
    conda:
        "../envs/notebooks.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        parameters=notebook_parameters(
            list(dict.fromkeys(config["study2"]["outcome_models"].values()))
        ),
    script:
        "../scripts/notebook_review.py"
