# Outputs: figures, tables, report, notebooks and the run's manifest.


rule manifest:
    input:
        products=run_products,
        inputs=run_inputs,
    output:
        "results/{run}/manifest.json",
    log:
        "results/{run}/logs/manifest.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        log_dir="results/{run}/logs",
        repo=workflow.basedir,
        seeds=run_seeds(),
    script:
        "../scripts/manifest.py"
