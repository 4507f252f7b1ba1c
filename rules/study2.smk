# Study 2 as published (descriptives, GEE) and beyond (severity bands, detector error).


rule study2_replication:
    input:
        sessions="results/{run}/study2/analysis/sessions.parquet",
    output:
        report(
            "results/{run}/study2/replication.csv",
            caption="../report/replication.rst",
            category="Study 2: action recommendations",
            subcategory="Descriptive replication",
        ),
    log:
        "results/{run}/logs/study2_replication.log",
    localrule: True
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/study2_replication.py"


rule study2_outcome:
    input:
        intervals="results/{run}/study2/analysis/intervals_{outcome}.parquet",
        posterior=outcome_model_file("posterior.nc"),
        summary=outcome_model_file("summary.csv"),
    output:
        gee="results/{run}/study2/{outcome}/gee.csv",
        slopes="results/{run}/study2/{outcome}/severity_slopes.csv",
        comparison="results/{run}/study2/{outcome}/bayes_vs_gee.csv",
    log:
        "results/{run}/logs/study2_outcome_{outcome}.log",
    localrule: True
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        centre=baseline_centre,
    script:
        "../scripts/study2_outcome.py"


rule study2_measurement_error:
    input:
        intervals="results/{run}/study2/analysis/intervals_{outcome}.parquet",
        sessions="results/{run}/study2/analysis/sessions.parquet",
        naive=outcome_model_file("summary.csv"),
        validation=detector_validation_table,
        truth=simulated_truth("study2"),
    output:
        summary="results/{run}/study2/{outcome}/measurement_error/summary.csv",
        posterior="results/{run}/study2/{outcome}/measurement_error/posterior.nc",
        comparison="results/{run}/study2/{outcome}/naive_vs_corrected.csv",
    log:
        "results/{run}/logs/study2_measurement_error_{outcome}.log",
    retries: 2
    conda:
        "../envs/models.yaml"
    threads: 4
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime,
    params:
        detection=config["study2"]["detection"],
        centre=baseline_centre,
        sampling=config["sampling"],
        seed=config["seed"],
        compile_cache=lambda wildcards: f".cache/compile/measurement_error_{wildcards.outcome}",
    script:
        "../scripts/study2_measurement_error.py"
