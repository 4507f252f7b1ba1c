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
