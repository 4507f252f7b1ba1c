# Bayesian multilevel models: any configured `models:` entry, fitted with PyMC.


rule fit_model:
    input:
        data=model_data,
    output:
        summary=report(
            "results/{run}/models/{model}/summary.csv",
            caption="../report/model_summary.rst",
            category="Models",
            subcategory="{model}",
        ),
        posterior="results/{run}/models/{model}/posterior.nc",
        diagnostics="results/{run}/models/{model}/diagnostics.json",
        variance_partition="results/{run}/models/{model}/variance_partition.csv",
        ppc="results/{run}/models/{model}/ppc.csv",
    log:
        "results/{run}/logs/fit_model_{model}.log",
    retries: 2
    conda:
        "../envs/models.yaml"
    threads: 4
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime,
    params:
        settings=model_config,
        compile_cache=compile_cache_dir,
        missing_codes=config["missing_codes"],
    script:
        "../scripts/fit_model.py"


rule odds_ratios:
    input:
        posterior="results/{run}/models/{model}/posterior.nc",
    output:
        report(
            "results/{run}/models/{model}/odds_ratios.csv",
            caption="../report/odds_ratios.rst",
            category="Models",
            subcategory="{model}",
        ),
    log:
        "results/{run}/logs/odds_ratios_{model}.log",
    localrule: True
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/odds_ratios.py"


rule effects:
    input:
        posterior="results/{run}/models/{model}/posterior.nc",
    output:
        report(
            "results/{run}/models/{model}/effects.csv",
            caption="../report/effects.rst",
            category="Models",
            subcategory="{model}",
        ),
    log:
        "results/{run}/logs/effects_{model}.log",
    localrule: True
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        family=model_family,
    script:
        "../scripts/effects.py"


rule compare_models:
    input:
        posteriors=comparison_posteriors,
    output:
        table=report(
            "results/{run}/comparisons/{comparison}/comparison.csv",
            caption="../report/model_comparison.rst",
            category="Models",
            subcategory="Comparisons",
            labels={"comparison": "{comparison}", "what": "table"},
        ),
        figure=report(
            "results/{run}/comparisons/{comparison}/comparison.png",
            caption="../report/model_comparison.rst",
            category="Models",
            subcategory="Comparisons",
            labels={"comparison": "{comparison}", "what": "figure"},
        ),
        pdf="results/{run}/comparisons/{comparison}/comparison.pdf",
    log:
        "results/{run}/logs/compare_models_{comparison}.log",
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        models=comparison_models,
    script:
        "../scripts/compare_models.py"


rule predictions:
    input:
        posterior="results/{run}/models/{model}/posterior.nc",
        data=model_data,
        rows=prediction_files,
    output:
        table=report(
            "results/{run}/models/{model}/predictions.csv",
            caption="../report/predictions.rst",
            category="Models",
            subcategory="{model}",
        ),
        figures=report(
            directory("results/{run}/models/{model}/predictions"),
            patterns=["{grid}.png"],
            caption="../report/predictions.rst",
            category="Models",
            subcategory="{model}",
        ),
    log:
        "results/{run}/logs/predictions_{model}.log",
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        settings=model_config,
        grids=prediction_grids,
        missing_codes=config["missing_codes"],
    script:
        "../scripts/predictions.py"


rule prior_predictive:
    input:
        data=model_data,
    output:
        table=report(
            "results/{run}/models/{model}/prior_predictive.csv",
            caption="../report/prior_predictive.rst",
            category="Models",
            subcategory="{model}",
        ),
        figure=report(
            "results/{run}/models/{model}/prior_predictive.png",
            caption="../report/prior_predictive.rst",
            category="Models",
            subcategory="{model}",
        ),
        pdf="results/{run}/models/{model}/prior_predictive.pdf",
    log:
        "results/{run}/logs/prior_predictive_{model}.log",
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=model_config,
        compile_cache=prior_compile_cache_dir,
        missing_codes=config["missing_codes"],
    script:
        "../scripts/prior_predictive.py"
