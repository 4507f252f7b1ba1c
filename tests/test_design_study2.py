"""Study 2 recovery and power study (homeworkflow.design_study2, rules/design.smk): seeds, config,
aggregation, one real replicate, and the figure."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from homeworkflow.design import recovery as design_recovery
from homeworkflow.design import replicates as design_replicates
from homeworkflow.design import reports as design_reports
from homeworkflow.design import seeds as design_seeds
from homeworkflow.design import settings as design_settings

ROOT = Path(__file__).resolve().parents[1]
DESIGN_SCHEMA = ROOT / "config" / "design.schema.yaml"
INTERACTION = "review_percentage:baseline_centred"


def configs() -> tuple[dict, dict]:
    """(the workflow's config, the shipped design section with the schema's defaults)."""
    from snakemake.utils import validate

    main = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    design = yaml.safe_load((ROOT / "config" / "design.yaml").read_text())["design"]
    validate(design, str(DESIGN_SCHEMA), set_default=True)
    return main, design


def test_value_labels_and_levels():
    assert [design_settings.value_label(v) for v in (0, 0.006, -0.08, 1e-5)] == ["v0", "v0.006", "v-0.08", "v1e-05"]
    assert design_settings.value_levels([0.0, 0.006, 0]) == {"v0": 0.0, "v0.006": 0.006}
    for bad in ([], [True], ["0.1"], [float("nan")]):
        with pytest.raises(ValueError, match="design.study2.effects"):
            design_settings.value_levels(bad)


def test_seeds_are_hashed_from_the_replicates_coordinates():
    seeds = design_seeds.recovery_seeds(7, "phq9", "v0.006", 3)
    assert seeds == {
        "simulation": design_seeds.derive_seed(7, "study2", "phq9", "v0.006", 3, "simulate"),
        "sampler": design_seeds.derive_seed(7, "study2", "phq9", "v0.006", 3, "sample"),
    }
    others = [
        design_seeds.recovery_seeds(7, "phq9", "v0.006", 4),
        design_seeds.recovery_seeds(7, "phq9", "v0", 3),
        design_seeds.recovery_seeds(7, "gad7", "v0.006", 3),
        design_seeds.recovery_seeds(8, "phq9", "v0.006", 3),
    ]
    values = [v for seed in [seeds, *others] for v in seed.values()]
    assert len(set(values)) == len(values) and all(0 <= v < design_seeds.SEED_MODULUS for v in values)


def test_design_settings_for_study2():
    main, design = configs()
    assert design["study2"]["replicates"] == 100 and design["study2"]["effects"] == [0.0, 0.006]
    config = {**main, "design": design}
    settings = design_settings.study2_replicate_settings(config, "v0.006", "5")
    assert settings["model"]["formula"] == main["models"]["phq9_change"]["formula"]
    assert settings["model"]["family"] == "gaussian" and settings["model"]["mass_matrix"] == "diagonal"
    assert settings["sampling"] == {**design["sampling"], "sampler": "nutpie", "draws": 1000}
    assert (settings["effect"], settings["replicate"], settings["centre"]) == (0.006, 5, 10)
    assert (settings["parameter"], settings["exposure"]) == ("phq9_change.interaction", "review_percentage_true")
    assert list(design_settings.study2_values(config)) == ["v0", "v0.006"]
    with pytest.raises(ValueError, match="no value 'v0.5'"):
        design_settings.study2_replicate_settings(config, "v0.5", "1")
    design["study2"]["model"] = "homework"
    with pytest.raises(ValueError, match="fitted to 'study1/sessions', not to the phq9 intervals"):
        design_settings.study2_replicate_settings(config, "v0", "1")
    design["study2"]["model"] = "phq9_changes"
    with pytest.raises(ValueError, match="no model 'phq9_changes' under `models:`"):
        design_settings.study2_replicate_settings(config, "v0", "1")


def test_schema_defaults_are_the_shipped_study2_section_but_its_sampler():
    from snakemake.utils import validate

    _, design = configs()
    empty = {}
    validate(empty, str(DESIGN_SCHEMA), set_default=True)
    assert empty["study2"] == {**design["study2"], "sampling": {}}


def test_study2_parameter_must_belong_to_the_outcome():
    from snakemake.utils import validate

    _, design = configs()
    design["study2"]["outcome"] = "gad7"
    with pytest.raises(ValueError, match="gad7_change section"):
        design_settings.check_design_config(design)
    design["study2"]["parameter"] = "gad7_change.review_slope"
    design_settings.check_design_config(design)
    with pytest.raises(Exception, match="does not match"):
        validate({"study2": {"parameter": "reviews.sd_client"}}, str(DESIGN_SCHEMA), set_default=True)


def replicate_rows(effect, term, truth, estimates, sds, covers90, covers95, excludes):
    n = len(estimates)
    return pd.DataFrame(
        {
            "effect": effect,
            "replicate": np.arange(1, n + 1),
            "term": term,
            "truth": truth,
            "mean": estimates,
            "sd": sds,
            "covers_90": covers90,
            "covers_95": covers95,
            "excludes_zero": excludes,
            "divergences": [0] * (n - 1) + [2],
        }
    )


def test_recovery_table_maths():
    rows = pd.concat(
        [
            replicate_rows(0.006, INTERACTION, 0.006, [0.0, 0.004, 0.008, 0.012], [0.004] * 4,
                           [False, True, True, True], [True] * 4, [False, False, True, True]),
            replicate_rows(0.006, "sd(client_id)", np.nan, [1.0] * 4, [0.1] * 4, [pd.NA] * 4, [pd.NA] * 4, [True] * 4),
            replicate_rows(0.0, INTERACTION, 0.0, [0.001, -0.001], [0.002] * 2, [True, True], [True, True], [False, False]),
        ],
        ignore_index=True,
    )  # fmt: skip
    table = design_recovery.recovery_table(rows)
    assert list(table["effect"]) == [0.0, 0.006] and set(table["term"]) == {INTERACTION}
    row = table.iloc[1]
    assert row["replicates"] == 4 and row["coverage_90"] == 0.75 and row["coverage_95"] == 1.0
    assert row["power"] == 0.5 and row["power_mcse"] == pytest.approx(np.sqrt(0.25 / 4))
    assert row["coverage_90_mcse"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    assert row["mean_estimate"] == pytest.approx(0.006) and row["bias"] == pytest.approx(0.0)
    sd = np.std([0.0, 0.004, 0.008, 0.012], ddof=1)
    assert row["sd_of_estimates"] == pytest.approx(sd) and row["sd_ratio"] == pytest.approx(0.004 / sd)
    assert row["divergent_fits"] == 1
    markdown = design_reports.recovery_markdown(table, "phq9_change.interaction", "review_percentage_true")
    assert "`phq9_change.interaction`" in markdown and " 0.75 " in markdown
    with pytest.raises(ValueError, match="no replicate rows with a true value"):
        design_recovery.recovery_table(rows[rows["term"] == "sd(client_id)"])


def test_one_replicate_simulates_the_value_and_fits_the_workflows_model(tmp_path):
    """A small Study 2 (60 clients) through simulation, features and the phq9_change model: every
    reported term gets its truth (the parameter set to the value, the centre moved to the
    analysis centre), ordered 90% and 95% intervals, and flags that agree with them."""
    from homeworkflow.study2.comparison import analysis_truth

    main, design = configs()
    config = {**main, "design": design, "study2": {**main["study2"], "baseline_centre": {"phq9": 12}}}
    settings = design_settings.study2_replicate_settings(config, "v0.006", "1")
    settings.update(
        effect=0.01,
        effect_label="v0.01",
        sampling={"sampler": "nutpie", "chains": 2, "draws": 200, "tune": 200},
        simulation={"sizes": {"n_organisations": 4, "n_therapists": 12, "n_clients": 60, "n_sessions": 300}},
    )
    rows = design_recovery.recovery_replicate(settings)
    assert list(rows.columns) == design_recovery.REPLICATE_COLUMNS
    by_term = rows.set_index("term")
    assert set(by_term.index) >= {"Intercept", "review_percentage", "baseline_centred", INTERACTION, "sigma"}
    seeds = design_seeds.recovery_seeds(main["seed"], "phq9", "v0.01", 1)
    intervals, truth = design_replicates.simulate_intervals(
        design_replicates.set_parameter(settings["simulation"], "phq9_change.interaction", 0.01), seeds["simulation"], "phq9", 12
    )
    assert truth["phq9"]["coefficients"][INTERACTION] == 0.01 and len(intervals) == rows["n_intervals"].iloc[0]
    expected = analysis_truth(truth, "phq9", 12)
    assert by_term.loc["review_percentage", "truth"] == pytest.approx(-0.08 + 0.01 * 2)
    for term in ("Intercept", "review_percentage", "baseline_centred", INTERACTION, "sigma"):
        row = by_term.loc[term]
        assert row["truth"] == pytest.approx(expected[term])
        assert row["q2.5"] <= row["q5"] < row["mean"] < row["q95"] <= row["q97.5"]
        assert row["covers_90"] == (row["q5"] <= row["truth"] <= row["q95"])
        assert row["covers_95"] == (row["q2.5"] <= row["truth"] <= row["q97.5"])
        assert row["excludes_zero"] == (row["q2.5"] > 0 or row["q97.5"] < 0)
    assert (rows["sampler_seed"] == seeds["sampler"]).all() and (rows["effect"] == 0.01).all()

    fig = design_reports.recovery_figure(pd.concat([rows, rows.assign(effect=0.0, replicate=2)]), INTERACTION, "phq9_change.interaction")
    assert len(fig.axes) == 2 and all(INTERACTION in ax.get_xlabel() for ax in fig.axes)
    fig.savefig(tmp_path / "recovery.png")
    with pytest.raises(ValueError, match="no replicate rows for term 'x'"):
        design_reports.recovery_figure(rows, "x", "phq9_change.interaction")


@pytest.mark.slow
def test_small_study2_recovery_end_to_end(tmp_path):
    """Two values x 2 replicates of a small Study 2 through Snakemake: replicate files, the table,
    its Markdown, the replicate rows and the figure."""
    from workflow_runner import run_workflow

    main, _ = configs()
    design = yaml.safe_load((ROOT / "config" / "design.yaml").read_text())["design"]
    design["study2"].update(
        replicates=2,
        effects=[0.0, 0.01],
        sampling={"sampler": "nutpie", "draws": 200, "tune": 200},
        simulation={"sizes": {"n_organisations": 4, "n_therapists": 12, "n_clients": 60, "n_sessions": 300}},
    )
    config = {**main, "run": "s2", "design": design}
    result = run_workflow(tmp_path, config, targets=["results/s2/design/study2/recovery.csv"], cores=2, timeout=1800)
    assert result.returncode == 0, result.describe()
    out = result.results / "design" / "study2"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*/*.csv")) == [
        "v0.01/1.csv", "v0.01/2.csv", "v0/1.csv", "v0/2.csv",
    ]  # fmt: skip
    table = pd.read_csv(out / "recovery.csv")
    assert list(table["effect"].unique()) == [0.0, 0.01] and (table["replicates"] == 2).all()
    interaction = table[table["term"] == INTERACTION].set_index("effect")["truth"]
    assert interaction.to_dict() == {0.0: 0.0, 0.01: 0.01}
    assert len(pd.read_csv(out / "replicates.csv")) == 4 * 8
    assert "phq9_change.interaction" in (out / "recovery.md").read_text()
    assert (out / "recovery.png").stat().st_size > 0 and (out / "recovery.pdf").stat().st_size > 0
