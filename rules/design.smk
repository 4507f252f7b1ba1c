# Study design: power analysis and simulation-based calibration (SBC) of the Study 1 model, and
# recovery and power of the Study 2 outcome model over replicate simulated data sets.
# Active when the config has a `design:` section: snakemake --configfile config/design.yaml.
# Logic in src/homeworkflow/design.py and design_study2.py; documented in docs/design.md.
from homeworkflow.design import DesignRules, check_design_config

if config.get("design"):
    # Fills the section's defaults even where config/schema.yaml does not carry it.
    validate(config["design"], "../config/design.schema.yaml", set_default=True)
    check_design_config(config["design"])

DESIGN = DesignRules(config)
# The targets of a run (`rule all`): power, sbc and study2 tables and figures, or [] without `design:`.
design_products = DESIGN.products


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
        mem_mb=DESIGN.mem_mb,
        runtime=DESIGN.runtime,
    params:
        settings=DESIGN.power_replicate_settings,
        # One persistent cache shared by every design job (PyTensor locks it while compiling).
        compile_cache=".cache/compile/design",
    script:
        "../scripts/design_power_replicate.py"


rule design_power:
    input:
        DESIGN.power_replicate_files,
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
        term=DESIGN.setting("power", "term"),
        parameter=DESIGN.setting("power", "parameter"),
        designs=DESIGN.power_design_sizes,
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
        mem_mb=DESIGN.mem_mb,
        runtime=DESIGN.runtime,
    params:
        settings=DESIGN.sbc_replicate_settings,
        compile_cache=".cache/compile/design",
    script:
        "../scripts/design_sbc_replicate.py"


rule design_sbc:
    input:
        DESIGN.sbc_replicate_files,
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
        bins=DESIGN.setting("sbc", "bins"),
        alpha=DESIGN.setting("sbc", "alpha"),
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
        mem_mb=DESIGN.mem_mb,
        runtime=DESIGN.runtime,
    params:
        settings=DESIGN.study2_replicate_settings,
        compile_cache=".cache/compile/design",
    script:
        "../scripts/design_study2_replicate.py"


rule design_study2:
    input:
        DESIGN.study2_replicate_files,
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
        term=DESIGN.setting("study2", "term"),
        parameter=DESIGN.setting("study2", "parameter"),
        exposure=DESIGN.setting("study2", "exposure"),
    script:
        "../scripts/design_study2.py"
