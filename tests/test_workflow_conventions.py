"""Snakemake's own conventions: lint clean, snakefmt formatted, config validated by its schema."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args, cwd=ROOT):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True)


def test_snakemake_lint_is_clean():
    result = run(str(BIN / "snakemake"), "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_check_is_clean():
    result = run(str(BIN / "snakefmt"), "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def dry_run(tmp_path, config: dict, *targets: str):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return run(str(BIN / "snakemake"), "-n", "--cores", "1", *targets, "--configfile", str(path))


def default_config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_builds_a_dag(tmp_path):
    result = dry_run(tmp_path, default_config())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(unknown_key=1), "'unknown_key' was unexpected"),
        (lambda c: c["study1"].update(source=3), "On instance['study1']['source']"),
        (lambda c: c["sampling"].update(chains="four"), "On instance['sampling']['chains']"),
        (lambda c: c["models"]["homework"].update(famly="x"), "'famly' was unexpected"),
        (lambda c: c["privacy"].update(min_cell=-1), "On instance['privacy']['min_cell']"),
    ],
    ids=["unknown-key", "wrong-type-source", "wrong-type-chains", "model-typo", "negative"],
)
def test_bad_config_is_an_error_naming_the_key(tmp_path, edit, message):
    config = default_config()
    edit(config)
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Error validating config file" in output and message in output, output


def test_presentation_products_follow_the_config(tmp_path):
    """rules/common.smk's presentation_products: every figure, table and notebook of a run, those
    of Study 1's model only when the config has one (a bernoulli model of study1/sessions)."""
    config = default_config()
    result = dry_run(tmp_path, config, "presentation")
    assert result.returncode == 0, result.stderr
    run_dir = f"results/{config['run']}"
    for product in (
        "figures/study1/odds_ratios.png",
        "figures/diagnostics/rank_phq9_change.pdf",
        "tables/table2_homework_odds_ratios.tex",
        "notebooks/02_study2_review.html",
    ):
        assert f"{run_dir}/{product}" in result.stdout, product
    # (a --configfile merges into config/config.yaml's models, so homework is changed, not removed)
    config["models"]["homework"]["family"] = "gaussian"
    result = dry_run(tmp_path, config, "presentation")
    assert result.returncode == 0, result.stderr
    assert f"{run_dir}/figures/study2/bayes_vs_gee.png" in result.stdout
    assert "figures/study1/" not in result.stdout and "table2_homework" not in result.stdout
