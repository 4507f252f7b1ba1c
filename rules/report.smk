# Presentation: figures, publication tables and executed review notebooks, all in the report.
# Paths and input functions: rules/common.smk.
STUDY1 = "Study 1: homework use"
STUDY2 = "Study 2: action recommendations"


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
        odds_ratios=report(
            "results/{run}/figures/study1/odds_ratios.png",
            caption="../report/fig_odds_ratios.rst",
            category=STUDY1,
            subcategory="Figures",
        ),
        predicted_probability=report(
            "results/{run}/figures/study1/predicted_probability.png",
            caption="../report/fig_predicted_probability.rst",
            category=STUDY1,
            subcategory="Figures",
        ),
        therapist_effects=report(
            "results/{run}/figures/study1/therapist_effects.png",
            caption="../report/fig_therapist_effects.rst",
            category=STUDY1,
            subcategory="Figures",
        ),
        posterior_predictive=report(
            "results/{run}/figures/study1/posterior_predictive.png",
            caption="../report/fig_posterior_predictive.rst",
            category=STUDY1,
            subcategory="Figures",
        ),
        pdfs=expand("results/{{run}}/figures/study1/{name}.pdf", name=STUDY1_FIGURES),
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
        session_distributions=report(
            "results/{run}/figures/study2/session_distributions.png",
            caption="../report/fig_session_distributions.rst",
            category=STUDY2,
            subcategory="Figures",
        ),
        review_vs_change=report(
            "results/{run}/figures/study2/review_vs_change.png",
            caption="../report/fig_review_vs_change.rst",
            category=STUDY2,
            subcategory="Figures",
        ),
        severity_slopes=report(
            "results/{run}/figures/study2/severity_slopes.png",
            caption="../report/fig_severity_slopes.rst",
            category=STUDY2,
            subcategory="Figures",
        ),
        bayes_vs_gee=report(
            "results/{run}/figures/study2/bayes_vs_gee.png",
            caption="../report/fig_bayes_vs_gee.rst",
            category=STUDY2,
            subcategory="Figures",
        ),
        naive_vs_corrected=report(
            "results/{run}/figures/study2/naive_vs_corrected.png",
            caption="../report/fig_naive_vs_corrected.rst",
            category=STUDY2,
            subcategory="Figures",
        ),
        pdfs=expand("results/{{run}}/figures/study2/{name}.pdf", name=STUDY2_FIGURES),
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
        table1=multiext("results/{run}/tables/table1_study1", ".csv", ".md", ".tex"),
        table1_html=report(
            "results/{run}/tables/table1_study1.html",
            caption="../report/table1_study1.rst",
            category=STUDY1,
            subcategory="Tables",
        ),
        table2=multiext(
            "results/{run}/tables/table2_homework_odds_ratios", ".csv", ".md", ".tex"
        ),
        table2_html=report(
            "results/{run}/tables/table2_homework_odds_ratios.html",
            caption="../report/table2_odds_ratios.rst",
            category=STUDY1,
            subcategory="Tables",
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
        table1=multiext("results/{run}/tables/table1_study2", ".csv", ".md", ".tex"),
        table1_html=report(
            "results/{run}/tables/table1_study2.html",
            caption="../report/table1_study2.rst",
            category=STUDY2,
            subcategory="Tables",
        ),
        table3=multiext(
            "results/{run}/tables/table3_outcome_models", ".csv", ".md", ".tex"
        ),
        table3_html=report(
            "results/{run}/tables/table3_outcome_models.html",
            caption="../report/table3_outcome_models.rst",
            category=STUDY2,
            subcategory="Tables",
        ),
        replication=multiext(
            "results/{run}/tables/table_study2_replication", ".csv", ".md", ".tex"
        ),
        replication_html=report(
            "results/{run}/tables/table_study2_replication.html",
            caption="../report/table_replication.rst",
            category=STUDY2,
            subcategory="Tables",
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
        table=multiext("results/{run}/tables/table_diagnostics", ".csv", ".md", ".tex"),
        html=report(
            "results/{run}/tables/table_diagnostics.html",
            caption="../report/table_diagnostics.rst",
            category="Diagnostics",
            subcategory="Tables",
        ),
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
        notebook=workflow.source_path("../notebooks/01_study1_review.ipynb"),
        figures=expand("results/{{run}}/figures/study1/{name}.png", name=STUDY1_FIGURES),
        rank_plots=rank_plots([STUDY1_MODEL]),
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
        notebook=workflow.source_path("../notebooks/02_study2_review.ipynb"),
        figures=expand("results/{{run}}/figures/study2/{name}.png", name=STUDY2_FIGURES),
        rank_plots=rank_plots(OUTCOME_MODELS.values()),
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
        parameters=notebook_parameters(OUTCOME_MODELS.values()),
    script:
        "../scripts/notebook_review.py"
