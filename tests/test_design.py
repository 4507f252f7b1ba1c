"""Power analysis and simulation-based calibration (homeworkflow.design, rules/design.smk).

Unit tests (fast): seed derivation, design points, truths, power/coverage aggregation on
hand-made replicate rows, SBC ranks and uniformity tests (uniform ranks pass, biased ranks fail,
also end to end on a conjugate model with an exact and a wrong posterior), prior draws, the
config and its schema, and the DAG. Then a small power analysis and SBC through Snakemake
(`slow`), and the same power analysis through the local Slurm cluster (`slurm`), which must give
the same table as the local run.

    .venv/bin/python -m pytest tests/test_design.py -q              # fast
    .venv/bin/python -m pytest tests/test_design.py -q -m slow      # local end to end
    .venv/bin/python -m pytest tests/test_design.py -q -m slurm -s  # through Slurm (root)
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from homeworkflow.design import power as design_power
from homeworkflow.design import replicates as design_replicates
from homeworkflow.design import reports as design_reports
from homeworkflow.design import sbc as design_sbc
from homeworkflow.design import seeds as design_seeds
from homeworkflow.design import settings as design_settings
from homeworkflow.models.spec.priors import draw_prior, make_prior

ROOT = Path(__file__).resolve().parents[1]
DESIGN_CONFIG = ROOT / "config" / "design.yaml"
DESIGN_SCHEMA = ROOT / "config" / "design.schema.yaml"
FORMULA = "homework ~ caregiver_present + child_age + licensed + (1 | therapist_id) + (1 | client_id)"


# ----------------------------------------------------------------------------------- seeds


def test_seed_is_the_documented_hash():
    expected = int.from_bytes(hashlib.sha256(b"homeworkflow-design|7|power|t20-c3-s3|or1.5|4|simulate").digest()[:8], "big")
    assert design_seeds.derive_seed(7, "power", "t20-c3-s3", "or1.5", 4, "simulate") == expected % 2**31
    assert design_seeds.power_seeds(7, "t20-c3-s3", "or1.5", 4)["simulation"] == expected % 2**31


def test_seeds_are_deterministic_distinct_and_in_range():
    seeds = {
        (design, effect, r, purpose): design_seeds.derive_seed(1, "power", design, effect, r, purpose)
        for design in ("t20-c3-s3", "t40-c3-s3")
        for effect in ("or1", "or2")
        for r in range(1, 21)
        for purpose in ("simulate", "sample")
    }
    assert len(set(seeds.values())) == len(seeds)
    assert all(0 <= s < 2**31 for s in seeds.values())
    # The same coordinates give the same seed, whatever was derived before.
    assert design_seeds.derive_seed(1, "power", "t40-c3-s3", "or2", 20, "sample") == seeds[("t40-c3-s3", "or2", 20, "sample")]
    assert design_seeds.derive_seed(2, "power", "t40-c3-s3", "or2", 20, "sample") != seeds[("t40-c3-s3", "or2", 20, "sample")]
    sbc = design_seeds.sbc_seeds(1, 3)
    assert len(set(sbc.values())) == 3 and design_seeds.sbc_seeds(1, 3, redraw=1)["prior"] != sbc["prior"]
    assert design_seeds.sbc_seeds(1, 3, redraw=1)["simulation"] == sbc["simulation"]


# --------------------------------------------------------------------------- design points


def test_design_grid_is_crossed_and_labelled():
    points = design_settings.design_points({"n_therapists": [20, 40], "clients_per_therapist": [3], "sessions_per_client": [2, 4]})
    assert list(points) == ["t20-c3-s2", "t20-c3-s4", "t40-c3-s2", "t40-c3-s4"]
    p = points["t40-c3-s4"]
    assert (p.n_clients, p.n_sessions) == (120, 480)
    assert p.sizes() == {"n_therapists": 40, "n_clients": 120, "n_sessions": 480}


def test_design_list_keeps_order_and_drops_duplicates():
    pts = [
        {"n_therapists": 50, "clients_per_therapist": 2, "sessions_per_client": 3},
        {"n_therapists": 10, "clients_per_therapist": 5, "sessions_per_client": 3},
        {"n_therapists": 50, "clients_per_therapist": 2, "sessions_per_client": 3},
    ]
    assert list(design_settings.design_points(pts)) == ["t50-c2-s3", "t10-c5-s3"]


@pytest.mark.parametrize(
    "designs, message",
    [
        ({"n_therapists": [1], "clients_per_therapist": [3], "sessions_per_client": [3]}, "at least 2 therapists"),
        ({"n_therapists": [10], "clients_per_therapist": [0], "sessions_per_client": [3]}, "positive integer"),
        ({"n_therapists": [10], "clients": [3], "sessions_per_client": [3]}, "unknown key"),
        ([{"n_therapists": 10, "clients_per_therapist": 3}], "exactly the keys"),
    ],
)
def test_bad_design_points_are_errors(designs, message):
    with pytest.raises(ValueError, match=message):
        design_settings.design_points(designs)


def test_effect_labels():
    assert design_settings.effect_levels([1, 1.5, 2.0, 1.0]) == {"or1": 1.0, "or1.5": 1.5, "or2": 2.0}
    with pytest.raises(ValueError, match="positive"):
        design_settings.effect_levels([0.0])


def test_simulation_params_merge_overrides_sizes_and_effect():
    overrides = {"homework_ebp_or": {"cpp": 1.0}, "homework": {"sd_client": 0.3}}
    params = design_replicates.simulation_params(overrides, design_settings.DesignPoint(10, 2, 3), "homework.or_caregiver_present", 2.5)
    assert params["sizes"] == {"n_therapists": 10, "n_clients": 20, "n_sessions": 60}
    assert params["homework"] == {"sd_client": 0.3, "or_caregiver_present": 2.5}
    assert params["homework_ebp_or"] == {"cpp": 1.0}
    assert overrides == {"homework_ebp_or": {"cpp": 1.0}, "homework": {"sd_client": 0.3}}  # not mutated
    with pytest.raises(ValueError, match="section.key"):
        design_replicates.set_parameter({}, "or_caregiver_present", 2.0)


def test_replicate_data_are_reproducible_and_carry_the_effect():
    params = design_replicates.simulation_params(load_design_config()["simulation"], design_settings.DesignPoint(8, 2, 2), "homework.or_caregiver_present", 3.0)
    a, truth, scaling = design_replicates.simulate_analysis_table(params, 11, {"ebp": "MAP"}, ["child_age"])
    b, _, _ = design_replicates.simulate_analysis_table(params, 11, {"ebp": "MAP"}, ["child_age"])
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 32 and a["therapist_id"].nunique() == 8 and a["client_id"].nunique() == 16
    assert math.isclose(truth["log_odds"]["caregiver_present[True]"], math.log(3.0))
    assert abs(a["child_age"].mean()) < 1e-9  # centred, as in the workflow
    assert design_replicates.omitted_effects(truth, ["Intercept", "caregiver_present[True]", "child_age", "licensed[True]"]) == []
    assert "ebp[CPP]" in design_replicates.omitted_effects(truth | {"log_odds": {**truth["log_odds"], "ebp[CPP]": 0.5}}, ["x"])


def test_true_values_shift_the_intercept_by_centred_columns():
    truth = {"log_odds": {"Intercept": -2.0, "child_age": 0.1, "ebp_fit": 0.0, "caregiver_present[True]": 0.7, "sd(client_id)": 0.6}}
    scaling = {"child_age": {"mean": 10.0, "sd": 4.0}, "ebp_fit": {"mean": 3.8, "sd": 0.5}}
    terms = ["Intercept", "caregiver_present[True]", "child_age", "sd(client_id)", "unknown"]
    centred = design_replicates.true_values(truth, terms, scaling, ["child_age", "ebp_fit"])
    assert centred["Intercept"] == pytest.approx(-2.0 + 0.1 * 10.0)
    assert centred["caregiver_present[True]"] == 0.7 and centred["sd(client_id)"] == 0.6
    assert math.isnan(centred["unknown"])
    assert design_replicates.true_values(truth, ["Intercept"], scaling, [])["Intercept"] == -2.0


def test_interval_rows_flag_exclusion_and_coverage():
    summary = pd.DataFrame(
        {
            "term": ["a", "b", "c", "d"],
            "mean": [1.0, 0.1, -1.0, 0.5],
            "q2.5": [0.2, -0.3, -1.5, 0.4],
            "q97.5": [1.8, 0.5, -0.5, 0.6],
        }
    )
    rows = design_replicates.interval_rows(summary, {"a": 2.0, "b": 0.0, "c": -0.5})
    assert list(rows["excludes_zero"]) == [True, False, True, True]
    assert list(rows["covers"][:3]) == [False, True, True]  # bounds count as covered
    assert rows["covers"].isna().iloc[3]


# ----------------------------------------------------------------------------- aggregation


def replicate_rows(design, effect, term, truth, intervals, divergences=None):
    """Hand-made replicate rows: one per (lo, hi) interval of `term`."""
    rows = []
    for r, (lo, hi) in enumerate(intervals, start=1):
        rows.append(
            {
                "design": design,
                "effect": effect,
                "replicate": r,
                "term": term,
                "truth": truth,
                "mean": (lo + hi) / 2,
                "q2.5": lo,
                "q97.5": hi,
                "excludes_zero": lo > 0 or hi < 0,
                "covers": lo <= truth <= hi,
                "divergences": (divergences or [0] * len(intervals))[r - 1],
            }
        )
        rows.append({**rows[-1], "term": "Intercept", "truth": -1.0, "mean": -1.0, "q2.5": -2.0, "q97.5": 0.5, "excludes_zero": False, "covers": True})
    return rows


def test_power_and_coverage_maths():
    t = math.log(2)
    rows = replicate_rows("t40-c3-s3", 2.0, "x", t, [(0.1, 1.0), (0.5, 0.9), (-0.2, 0.6), (0.8, 1.2)], [0, 3, 0, 0])
    rows += replicate_rows("t20-c3-s3", 2.0, "x", t, [(-0.5, 1.5), (0.2, 1.1)])
    rows += replicate_rows("t20-c3-s3", 1.0, "x", 0.0, [(-0.5, 0.5), (0.1, 0.9)])
    designs = design_settings.design_points({"n_therapists": [20, 40], "clients_per_therapist": [3], "sessions_per_client": [3]})
    power = design_power.power_table(pd.DataFrame(rows), "x", designs)
    assert list(zip(power["design"], power["effect"])) == [("t20-c3-s3", 1.0), ("t20-c3-s3", 2.0), ("t40-c3-s3", 2.0)]
    big = power.iloc[2]
    assert big["replicates"] == 4 and big["power"] == 0.75  # 3 of 4 intervals exclude 0
    assert big["coverage"] == 0.5  # (-0.2, 0.6) and (0.8, 1.2) miss log 2 = 0.693
    assert big["power_mcse"] == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert big["mean_estimate"] == pytest.approx(np.mean([0.55, 0.7, 0.2, 1.0]))
    assert big["bias"] == pytest.approx(big["mean_estimate"] - t)
    assert big["divergent_fits"] == 1 and big["n_sessions"] == 360 and big["n_therapists"] == 40
    null = power.iloc[0]
    assert null["power"] == 0.5 and null["coverage"] == 0.5  # false-positive rate at OR 1
    coverage = design_power.coverage_table(pd.DataFrame(rows))
    assert set(coverage["term"]) == {"x", "Intercept"}
    assert coverage.query("term == 'Intercept'")["coverage"].eq(1.0).all()
    with pytest.raises(ValueError, match="no replicate rows"):
        design_power.power_table(pd.DataFrame(rows), "missing")


def test_aggregation_survives_a_csv_round_trip(tmp_path):
    rows = pd.DataFrame(replicate_rows("t20-c3-s3", 2.0, "x", 0.7, [(0.1, 1.0), (-0.1, 0.3)]))
    rows["covers"] = rows["covers"].astype(object)
    rows.loc[rows["term"] == "Intercept", "covers"] = pd.NA  # a term without a known truth
    rows.loc[rows["term"] == "Intercept", "truth"] = np.nan
    paths = []
    for r, part in rows.groupby("replicate"):
        paths.append(tmp_path / f"{r}.csv")
        part.to_csv(paths[-1], index=False)
    back = design_replicates.read_replicates(paths)
    power = design_power.power_table(back, "x")
    assert power["power"].iloc[0] == 0.5 and power["coverage"].iloc[0] == 0.5
    assert set(design_power.coverage_table(back)["term"]) == {"x"}
    assert "| t20-c3-s3 |" in design_reports.power_markdown(power, "x", "homework.or_x")


# ------------------------------------------------------------------------------------- SBC


def test_rank_statistic_and_thinning():
    assert design_sbc.rank_statistic(np.array([0.1, 0.5, 0.9]), 0.6) == 2
    assert design_sbc.rank_statistic(np.array([0.1, 0.5, 0.9]), -1.0) == 0
    assert design_sbc.rank_statistic(np.array([0.1, 0.5, 0.9]), 5.0) == 3
    assert list(design_sbc.thin_indices(10, 4)) == [0, 3, 6, 9]
    assert list(design_sbc.thin_indices(3, 10)) == [0, 1, 2]
    draws = np.arange(2000.0).reshape(2, 1000)  # (chain, draw)
    ranks = design_sbc.sbc_ranks({"a": draws}, {"a": 500.2}, keep=99)
    assert ranks["a"] == (25, 99)  # kept: draws 0, 20, 41, ..., 490 lie below 500.2


def test_uniform_ranks_pass_and_biased_ranks_fail():
    L, bins = 99, 10
    uniform = np.tile(np.arange(L + 1), 2)  # every rank equally often
    tests = design_sbc.uniformity_tests(uniform, L, bins)
    assert tests["chi2"] == 0 and tests["chi2_p"] == pytest.approx(1.0) and tests["ks_p"] > 0.99
    rng = np.random.default_rng(1)
    too_low = rng.integers(0, 50, 200)  # posterior too far right: truth sits low
    assert design_sbc.uniformity_tests(too_low, L, bins)["chi2_p"] < 1e-10
    narrow = np.where(rng.random(200) < 0.5, rng.integers(0, 5, 200), rng.integers(95, 100, 200))
    assert design_sbc.uniformity_tests(narrow, L, bins)["chi2_p"] < 1e-10  # overconfident: U shape
    with pytest.raises(ValueError, match="must divide"):
        design_sbc.uniformity_tests(uniform, L, 7)
    with pytest.raises(ValueError, match="0..99"):
        design_sbc.uniformity_tests([100], L, bins)


def sbc_rows(term_ranks: dict, n_draws: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"replicate": r, "term": term, "rank": int(rank), "n_draws": n_draws, "divergences": 0}
            for term, ranks in term_ranks.items()
            for r, rank in enumerate(ranks, start=1)
        ]
    )


def test_sbc_table_bonferroni_and_verdict():
    rng = np.random.default_rng(2)
    ok = {"a": rng.integers(0, 100, 100), "b": rng.integers(0, 100, 100)}
    table = design_sbc.sbc_table(sbc_rows(ok, 99), bins=10, alpha=0.01)
    assert list(table["term"]) == ["a", "b"] and table["calibrated"].all()
    assert (table["p_bonferroni"] == np.minimum(1, table[["chi2_p", "ks_p"]].min(axis=1) * 4)).all()
    bad = {**ok, "c": rng.integers(30, 70, 100)}
    table = design_sbc.sbc_table(sbc_rows(bad, 99), bins=10, alpha=0.01)
    assert list(table["calibrated"]) == [True, True, False]
    assert "MISCALIBRATION**: c" in design_reports.sbc_markdown(table, 0.01)
    with pytest.raises(ValueError, match="different numbers"):
        design_sbc.sbc_table(pd.concat([sbc_rows({"a": [1]}, 99), sbc_rows({"a": [1]}, 19)]), bins=10)


@pytest.mark.parametrize("posterior_sd_factor, calibrated", [(1.0, True), (0.5, False)])
def test_sbc_machinery_on_a_conjugate_model(posterior_sd_factor, calibrated):
    """theta ~ N(0, 1), y_i ~ N(theta, 1), n = 5: the exact posterior passes SBC, a posterior
    half as wide (overconfident) fails it."""
    rng = np.random.default_rng(3)
    ranks = []
    for _ in range(300):
        theta = rng.normal()
        y = rng.normal(theta, 1.0, 5)
        mean, sd = y.sum() / 6, math.sqrt(1 / 6) * posterior_sd_factor
        draws = rng.normal(mean, sd, (2, 500))
        ranks.append(design_sbc.sbc_ranks({"theta": draws}, {"theta": theta}, keep=99)["theta"][0])
    table = design_sbc.sbc_table(sbc_rows({"theta": ranks}, 99), bins=10, alpha=0.01)
    assert bool(table["calibrated"].iloc[0]) is calibrated


@pytest.mark.parametrize(
    "prior, mean, sd",
    [
        (make_prior("normal", mu=1.0, sigma=2.5), 1.0, 2.5),
        (make_prior("student_t", nu=5.0, mu=0.0, sigma=1.0), 0.0, math.sqrt(5 / 3)),
        (make_prior("halfnormal", sigma=2.5), 2.5 * math.sqrt(2 / math.pi), 2.5 * math.sqrt(1 - 2 / math.pi)),
        (make_prior("exponential", lam=2.0), 0.5, 0.5),
        (make_prior("halfstudent_t", nu=5.0, sigma=1.0), stats.t(5).expect(abs), None),
    ],
    ids=["normal", "student_t", "halfnormal", "exponential", "halfstudent_t"],
)
def test_prior_draws_match_their_distribution(prior, mean, sd):
    x = draw_prior(prior, np.random.default_rng(4), 200_000)
    assert x.mean() == pytest.approx(mean, abs=0.02)
    if sd is not None:
        assert x.std() == pytest.approx(sd, rel=0.02)


def test_prior_draw_back_transform_matches_the_raw_scale():
    """The data-scale truth gives the same linear predictor on the raw columns as the internal
    draw on the standardised ones (the back-transform SBC ranks depend on)."""
    from homeworkflow.models.spec.formula import build_design
    from homeworkflow.models.spec.priors import resolve_priors

    params = design_replicates.simulation_params({}, design_settings.DesignPoint(12, 3, 2))
    data, _, _ = design_replicates.simulate_analysis_table(params, 5, {"ebp": "MAP"}, ["child_age"])
    design = build_design(data, FORMULA, "bernoulli", {})
    priors = resolve_priors("bernoulli", {}, design.terms, [e.label for e in design.group_effects])
    draw = design_sbc.draw_from_model(design, priors, np.random.default_rng(6))
    truth = draw.data_scale(design)
    assert set(truth) == {"Intercept", *design.terms, "sd(therapist_id)", "sd(client_id)"}
    raw = design.X * design.scale + design.center
    eta_raw = truth["Intercept"] + raw @ np.array([truth[t] for t in design.terms])
    eta_std = draw.intercept_std + design.X @ draw.b_std
    np.testing.assert_allclose(eta_raw, eta_std, atol=1e-9)
    assert set(np.unique(draw.y)) <= {0, 1} and len(draw.y) == 72
    again = design_sbc.draw_from_model(design, priors, np.random.default_rng(6))
    np.testing.assert_array_equal(again.y, draw.y)


# ------------------------------------------------------------------------ config and rules


def load_design_config() -> dict:
    return yaml.safe_load(DESIGN_CONFIG.read_text())["design"]


def test_design_yaml_is_valid_and_the_schema_fills_defaults():
    from snakemake.utils import validate

    config = {"design": load_design_config()}
    validate(config["design"], str(DESIGN_SCHEMA), set_default=True)
    design_settings.check_design_config(config["design"])
    assert list(design_settings.design_points(config["design"]["power"]["designs"])) == ["t25-c3-s3", "t50-c3-s3", "t100-c3-s3"]
    empty = {}
    validate(empty, str(DESIGN_SCHEMA), set_default=True)
    assert empty["sampling"]["sampler"] == "pymc" and empty["sbc"]["draws_kept"] == 99
    assert empty["power"]["designs"] == config["design"]["power"]["designs"]
    assert empty["model"]["formula"].split() == config["design"]["model"]["formula"].split()
    with pytest.raises(Exception, match="unexpected"):
        validate({"power": {"replicate": 3}}, str(DESIGN_SCHEMA), set_default=True)


def test_design_config_checks_beyond_the_schema():
    from snakemake.utils import validate

    config = load_design_config()
    config["sbc"]["bins"] = 7
    validate(config, str(DESIGN_SCHEMA), set_default=True)
    with pytest.raises(ValueError, match="must divide"):
        design_settings.check_design_config(config)
    config["sbc"].update(bins=10, draws_kept=1999)
    with pytest.raises(ValueError, match="exceeds the posterior draws"):
        design_settings.check_design_config(config)


def test_design_settings_of_each_replicate():
    """The params of a power and an SBC replicate (rules/common.smk passes the wildcards)."""
    from snakemake.utils import validate

    main = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    design = load_design_config()
    validate(design, str(DESIGN_SCHEMA), set_default=True)
    config = {**main, "design": design}
    settings = design_settings.power_replicate_settings(config, "t50-c3-s3", "or1.5", "7")
    assert settings["design"] == {"n_therapists": 50, "clients_per_therapist": 3, "sessions_per_client": 3}
    assert (settings["effect"], settings["replicate"], settings["seed"]) == (1.5, 7, main["seed"])
    assert settings["centre"] == main["study1"]["centre"] and settings["sampling"]["sampler"] == "pymc"
    assert len(design_settings.power_points(config)) * len(design_settings.power_effects(config)) == 9
    sbc = design_settings.sbc_replicate_settings(config, "7")
    assert sbc["draws_kept"] == 99 and sbc["design"]["n_therapists"] == 30
    with pytest.raises(ValueError, match="no design point 't7-c3-s3'"):
        design_settings.power_replicate_settings(config, "t7-c3-s3", "or1", "1")
    with pytest.raises(ValueError, match="no `design:` section"):
        design_settings.section(main, "power")
    design["seed"] = 5
    assert design_settings.master_seed(config) == 5


# --------------------------------------------------------------- through Snakemake (slow)

SMALL = {
    "sampling": {"chains": 2, "draws": 150, "tune": 150},
    "power": {
        "effects": [2.0],
        "designs": {"n_therapists": [6, 10], "clients_per_therapist": [2], "sessions_per_client": [2]},
        "replicates": 3,
    },
    "sbc": {
        "replicates": 2,
        "design": {"n_therapists": 8, "clients_per_therapist": 2, "sessions_per_client": 2},
        "draws_kept": 19,
        "bins": 4,
    },
}
POWER_TARGET = "results/{run}/design/power/power.csv"
SBC_TARGET = "results/{run}/design/sbc/sbc.csv"
STUDY2_TARGET = "results/{run}/design/study2/recovery.csv"


def small_config(run: str) -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["run"] = run
    config["design"] = design_replicates.merge(load_design_config(), SMALL)
    return config


def require_design_rules():
    snakefile = (ROOT / "Snakefile").read_text()
    schema = (ROOT / "config" / "schema.yaml").read_text()
    if "rules/design.smk" not in snakefile or not re.search(r"^  design:", schema, re.M):
        pytest.fail("the Snakefile must include rules/design.smk and config/schema.yaml carry `design:`")


def test_dag_of_the_default_design_config(tmp_path):
    from workflow_runner import run_workflow

    require_design_rules()
    config = small_config("dag")
    config["design"] = load_design_config()  # the shipped design, fewer replicates
    config["design"]["power"]["replicates"] = 2
    config["design"]["sbc"]["replicates"] = 3
    config["design"]["study2"]["replicates"] = 2
    targets = [POWER_TARGET, SBC_TARGET, STUDY2_TARGET]
    result = run_workflow(tmp_path, config, targets=[t.format(run="dag") for t in targets], extra=["-n"])
    assert result.returncode == 0, result.describe()
    # `make run` builds them too: rules/common.smk's design_products are part of the manifest's inputs.
    everything = run_workflow(tmp_path, config, targets=["results/dag/manifest.json"], extra=["-n"])
    assert everything.returncode == 0, everything.describe()
    assert all(t.format(run="dag") in everything.output for t in targets)
    assert result.returncode == 0, result.describe()
    counts = dict(re.findall(r"^(design_\w+)\s+(\d+)$", result.output, re.M))
    assert counts == {
        "design_power_replicate": "18",
        "design_sbc_replicate": "3",
        "design_study2_replicate": "4",
        "design_power": "1",
        "design_sbc": "1",
        "design_study2": "1",
    }
    assert "results/dag/design/power/t100-c3-s3/or1.5/2.csv" in result.output
    assert "results/dag/design/study2/v0.006/2.csv" in result.output


def run_small(workdir: Path, run: str, extra=(), env=None, timeout=1800):
    """The small power analysis (2 designs x 1 effect x 3 replicates) in `workdir`."""
    from workflow_runner import _env, prepare_workdir, snakemake_args, write_config

    require_design_rules()
    prepare_workdir(workdir)
    configfile = write_config(workdir, small_config(run))
    args = snakemake_args(workdir, configfile, [POWER_TARGET.format(run=run)], cores=2, extra=extra)
    env = dict(env or _env())
    env.pop("PYTHONPATH", None)
    start = time.monotonic()
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return proc, seconds


@pytest.fixture(scope="module")
def local_power(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("design_local")
    proc, seconds = run_small(workdir, "local")
    print(f"\n[design] local power analysis (6 replicate fits, --cores 2): {seconds:.0f} s")
    return workdir / "results" / "local" / "design" / "power", proc


def replicate_files(power_dir: Path) -> list[Path]:
    return sorted(p for p in power_dir.rglob("*.csv") if p.parent != power_dir)


@pytest.mark.slow
def test_small_power_analysis_end_to_end(local_power):
    power_dir, _ = local_power
    power = pd.read_csv(power_dir / "power.csv")
    assert list(power["design"]) == ["t6-c2-s2", "t10-c2-s2"] and (power["effect"] == 2.0).all()
    assert (power["replicates"] == 3).all() and power["power"].between(0, 1).all()
    assert np.allclose(power["true_log_odds"], math.log(2.0))
    for name in ("power.md", "power.png", "power.pdf", "coverage.csv"):
        assert (power_dir / name).stat().st_size > 0, name
    files = replicate_files(power_dir)
    assert len(files) == 6
    rows = pd.read_csv(files[0])
    assert list(rows.columns) == design_power.REPLICATE_COLUMNS
    assert set(rows["term"]) == {"Intercept", "caregiver_present[True]", "child_age", "licensed[True]", "sd(therapist_id)", "sd(client_id)"}
    assert rows["truth"].notna().all()
    # Seeds as documented: from the config's seed and the replicate's coordinates.
    r = rows.iloc[0]
    seed = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["seed"]
    assert r["simulation_seed"] == design_seeds.power_seeds(seed, r["design"], design_settings.effect_label(r["effect"]), r["replicate"])["simulation"]


@pytest.mark.slow
def test_small_sbc_end_to_end(tmp_path):
    from workflow_runner import run_workflow

    require_design_rules()
    config = small_config("sbc")
    result = run_workflow(tmp_path, config, targets=[SBC_TARGET.format(run="sbc")], cores=2, timeout=1800)
    assert result.returncode == 0, result.describe()
    sbc_dir = result.results / "design" / "sbc"
    table = pd.read_csv(sbc_dir / "sbc.csv")
    assert len(table) == 6 and (table["replicates"] == 2).all() and (table["n_draws"] == 19).all()
    ranks = pd.read_csv(sbc_dir / "ranks.csv")
    assert ranks["rank"].between(0, 19).all() and len(ranks) == 12
    assert (sbc_dir / "sbc.png").stat().st_size > 0 and "calibration" in (sbc_dir / "sbc.md").read_text()


# ------------------------------------------------------------------------- through Slurm


@pytest.mark.slurm
def test_small_power_analysis_through_slurm_matches_local(local_power, tmp_path, request):
    slurm_env = request.getfixturevalue("slurm_env")
    power_dir, _ = local_power
    proc, seconds = run_small(tmp_path, "local", extra=["--profile", str(ROOT / "profiles" / "slurm-local")], env=slurm_env)
    slurm_dir = tmp_path / "results" / "local" / "design" / "power"
    pd.testing.assert_frame_equal(pd.read_csv(slurm_dir / "power.csv"), pd.read_csv(power_dir / "power.csv"))
    local_files = replicate_files(power_dir)
    assert [p.relative_to(power_dir) for p in local_files] == [p.relative_to(slurm_dir) for p in replicate_files(slurm_dir)]
    for path in local_files:
        pd.testing.assert_frame_equal(pd.read_csv(slurm_dir / path.relative_to(power_dir)), pd.read_csv(path))
    # Every replicate fit ran as its own Slurm job, which Slurm itself reports as completed.
    log = proc.stdout + proc.stderr
    jobids = sorted(set(re.findall(r"SLURM jobid (\d+)", log)))
    assert len(jobids) == 6, log[-3000:]
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T", "--jobs", ",".join(jobids)],
        env=slurm_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    states = dict(line.split("|") for line in out.split())
    assert set(states) == set(jobids) and set(states.values()) == {"COMPLETED"}, states
    print(f"\n[design] Slurm power analysis: {seconds:.0f} s, jobs {jobids}; table identical to the local run")


from test_slurm import slurm_env  # noqa: E402,F401  (the local cluster fixture, started on demand)
