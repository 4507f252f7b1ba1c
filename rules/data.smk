# Data: simulate (the embedded default) or read users' files, validate, clean, derive features.


rule simulate_study1:
    output:
        tables=expand(
            "results/{{run}}/study1/simulated/{table}.csv", table=STUDIES["study1"]
        ),
        truth="results/{run}/study1/simulated/truth.json",
    log:
        "results/{run}/logs/simulate_study1.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        study="study1",
        tables=list(STUDIES["study1"]),
        settings=config["study1"]["simulation"],
        seed=config["seed"],
    script:
        "../scripts/simulate.py"


rule simulate_study2:
    output:
        tables=expand(
            "results/{{run}}/study2/simulated/{table}.csv", table=STUDIES["study2"]
        ),
        truth="results/{run}/study2/simulated/truth.json",
    log:
        "results/{run}/logs/simulate_study2.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        study="study2",
        tables=list(STUDIES["study2"]),
        settings=config["study2"]["simulation"],
        seed=config["seed"],
    script:
        "../scripts/simulate.py"


rule clean_study1:
    input:
        unpack(study_inputs("study1")),
    output:
        tables=expand(
            "results/{{run}}/study1/clean/{table}.parquet", table=STUDIES["study1"]
        ),
        flow="results/{run}/study1/clean/flow.csv",
    log:
        "results/{run}/logs/clean_study1.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        study="study1",
        tables=list(STUDIES["study1"]),
        missing_codes=config["missing_codes"],
        salt=config["privacy"]["salt"],
    script:
        "../scripts/clean.py"


rule clean_study2:
    input:
        unpack(study_inputs("study2")),
    output:
        tables=expand(
            "results/{{run}}/study2/clean/{table}.parquet", table=STUDIES["study2"]
        ),
        flow="results/{run}/study2/clean/flow.csv",
    log:
        "results/{run}/logs/clean_study2.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        study="study2",
        tables=list(STUDIES["study2"]),
        missing_codes=config["missing_codes"],
        salt=config["privacy"]["salt"],
    script:
        "../scripts/clean.py"


rule features_study1:
    input:
        tables=expand(
            "results/{{run}}/study1/clean/{table}.parquet", table=STUDIES["study1"]
        ),
        flow="results/{run}/study1/clean/flow.csv",
    output:
        sessions="results/{run}/study1/analysis/sessions.parquet",
        scaling="results/{run}/study1/analysis/scaling.json",
        flow=report(
            "results/{run}/study1/flow.csv",
            caption="../report/flow.rst",
            category="Study 1: homework use",
            subcategory="Data",
        ),
        table1=report(
            "results/{run}/study1/table1.csv",
            caption="../report/table1.rst",
            category="Study 1: homework use",
            subcategory="Data",
        ),
        table1_md="results/{run}/study1/table1.md",
    log:
        "results/{run}/logs/features_study1.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tables=list(STUDIES["study1"]),
        reference_levels=config["study1"]["reference_levels"],
        centre=config["study1"]["centre"],
        min_cell=config["privacy"]["min_cell"],
    script:
        "../scripts/features_study1.py"


rule features_study2:
    input:
        tables=expand(
            "results/{{run}}/study2/clean/{table}.parquet", table=STUDIES["study2"]
        ),
        flow="results/{run}/study2/clean/flow.csv",
    output:
        sessions="results/{run}/study2/analysis/sessions.parquet",
        intervals_phq9="results/{run}/study2/analysis/intervals_phq9.parquet",
        intervals_gad7="results/{run}/study2/analysis/intervals_gad7.parquet",
        flow=report(
            "results/{run}/study2/flow.csv",
            caption="../report/flow.rst",
            category="Study 2: action recommendations",
            subcategory="Data",
        ),
        table1=report(
            "results/{run}/study2/table1.csv",
            caption="../report/table1.rst",
            category="Study 2: action recommendations",
            subcategory="Data",
        ),
        table1_md="results/{run}/study2/table1.md",
    log:
        "results/{run}/logs/features_study2.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tables=list(STUDIES["study2"]),
        baseline_centre=config["study2"]["baseline_centre"],
        min_cell=config["privacy"]["min_cell"],
    script:
        "../scripts/features_study2.py"
