# Data: simulate (the embedded default) or read users' files, validate, clean, derive features.


# Simulate and clean are one rule each, made once per study (their table lists differ, which a
# `{study}` wildcard in the outputs cannot express); rule names stay simulate_<study>, clean_<study>.
for study in STUDIES:

    rule:
        name:
            f"simulate_{study}"
        output:
            tables=expand(
                f"results/{{{{run}}}}/{study}/simulated/{{table}}.csv",
                table=STUDIES[study],
            ),
            truth=f"results/{{run}}/{study}/simulated/truth.json",
        log:
            f"results/{{run}}/logs/simulate_{study}.log",
        localrule: True
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        params:
            study=study,
            tables=list(STUDIES[study]),
            settings=config[study]["simulation"],
            seed=config["seed"],
        script:
            "../scripts/simulate.py"

    rule:
        name:
            f"clean_{study}"
        input:
            unpack(study_inputs(study)),
        output:
            tables=expand(
                f"results/{{{{run}}}}/{study}/clean/{{table}}.parquet",
                table=STUDIES[study],
            ),
            flow=f"results/{{run}}/{study}/clean/flow.csv",
        log:
            f"results/{{run}}/logs/clean_{study}.log",
        localrule: True
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            study=study,
            tables=list(STUDIES[study]),
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
