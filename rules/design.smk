# Study design: power analysis and simulation-based calibration (SBC) of the Study 1 model, and
# recovery and power of the Study 2 outcome model over replicate simulated data sets.
# Active when the config has a `design:` section: snakemake --configfile config/design.yaml.
# Logic in src/homeworkflow/design/; params and input functions in rules/common.smk;
# documented in docs/design.md.


rule design_power_replicate:
    output:
        "results/{run}/design/power/{design}/{effect}/{replicate}.csv",
    log:
        "results/{run}/logs/design/power/{design}/{effect}/{replicate}.log",
    wildcard_constraints:
        design=r"t\d+-c\d+-s\d+",
        effect=r"or[0-9.e+-]+",
        replicate=r"\d+",
    retries: 1
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=design_mem_mb,
        runtime=design_runtime,
    params:
        settings=power_replicate_settings,
        # One persistent cache shared by every design job (PyTensor locks it while compiling).
        compile_cache=".cache/compile/design",
    script:
        "../scripts/design_power_replicate.py"


rule design_power:
    input:
        power_replicate_files,
    output:
        table=report(
            "results/{run}/design/power/power.csv",
            caption="../report/design_power.rst",
            category="Study design",
            subcategory="Power",
        ),
        markdown="results/{run}/design/power/power.md",
        coverage="results/{run}/design/power/coverage.csv",
        figure=report(
            "results/{run}/design/power/power.png",
            caption="../report/design_power_figure.rst",
            category="Study design",
            subcategory="Power",
        ),
        pdf="results/{run}/design/power/power.pdf",
    log:
        "results/{run}/logs/design/power.log",
    localrule: True
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        term=design_setting("power", "term"),
        parameter=design_setting("power", "parameter"),
        designs=power_design_sizes,
    script:
        "../scripts/design_power.py"


rule design_sbc_replicate:
    output:
        "results/{run}/design/sbc/{replicate}.csv",
    log:
        "results/{run}/logs/design/sbc/{replicate}.log",
    wildcard_constraints:
        replicate=r"\d+",
    retries: 1
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=design_mem_mb,
        runtime=design_runtime,
    params:
        settings=sbc_replicate_settings,
        compile_cache=".cache/compile/design",
    script:
        "../scripts/design_sbc_replicate.py"


rule design_sbc:
    input:
        sbc_replicate_files,
    output:
        table=report(
            "results/{run}/design/sbc/sbc.csv",
            caption="../report/design_sbc.rst",
            category="Study design",
            subcategory="Simulation-based calibration",
        ),
        markdown="results/{run}/design/sbc/sbc.md",
        ranks="results/{run}/design/sbc/ranks.csv",
        figure=report(
            "results/{run}/design/sbc/sbc.png",
            caption="../report/design_sbc_figure.rst",
            category="Study design",
            subcategory="Simulation-based calibration",
        ),
        pdf="results/{run}/design/sbc/sbc.pdf",
    log:
        "results/{run}/logs/design/sbc.log",
    localrule: True
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        bins=design_setting("sbc", "bins"),
        alpha=design_setting("sbc", "alpha"),
    script:
        "../scripts/design_sbc.py"


rule design_study2_replicate:
    output:
        "results/{run}/design/study2/{effect}/{replicate}.csv",
    log:
        "results/{run}/logs/design/study2/{effect}/{replicate}.log",
    wildcard_constraints:
        effect=r"v[0-9.e+-]+",
        replicate=r"\d+",
    retries: 1
    conda:
        "../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=design_mem_mb,
        runtime=design_runtime,
    params:
        settings=study2_replicate_settings,
        compile_cache=".cache/compile/design",
    script:
        "../scripts/design_study2_replicate.py"


rule design_study2:
    input:
        study2_replicate_files,
    output:
        table=report(
            "results/{run}/design/study2/recovery.csv",
            caption="../report/design_study2.rst",
            category="Study design",
            subcategory="Study 2 recovery",
        ),
        markdown="results/{run}/design/study2/recovery.md",
        replicates="results/{run}/design/study2/replicates.csv",
        figure=report(
            "results/{run}/design/study2/recovery.png",
            caption="../report/design_study2_figure.rst",
            category="Study design",
            subcategory="Study 2 recovery",
        ),
        pdf="results/{run}/design/study2/recovery.pdf",
    log:
        "results/{run}/logs/design/study2.log",
    localrule: True
    conda:
        "../envs/outputs.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        term=design_setting("study2", "term"),
        parameter=design_setting("study2", "parameter"),
        exposure=design_setting("study2", "exposure"),
    script:
        "../scripts/design_study2.py"
