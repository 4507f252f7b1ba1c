"""Figures and publication tables: valid files of a sensible size, identical bytes on re-render,
readable labels from the model's own term names, aggregates only, and all four table formats."""

from __future__ import annotations

import re
from pathlib import Path
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

from homeworkflow.presentation import tables
from homeworkflow.presentation.figures import diagnostics, study1, study2
from homeworkflow.presentation.labels import reference_levels_of, term_label, term_rows
from homeworkflow.presentation.figures.style import DPI, save_figure

RNG_SEED = 7
TERMS = ["caregiver_present[True]", "child_age", "licensed[True]", "ebp[CPP]", "ebp[TF-CBT]", "n_ebps_trained"]
THERAPISTS = [f"T-{i:03d}" for i in range(30)]


# ------------------------------------------------------------------------------- inputs


def draws(rng, *shape, loc=0.0, scale=1.0):
    return rng.normal(loc, scale, size=(2, 200, *shape))


@pytest.fixture(scope="module")
def homework_posterior():
    """A posterior shaped like the homework model's (data scale, named dims)."""
    rng = np.random.default_rng(RNG_SEED)
    b = draws(rng, len(TERMS), scale=0.2) + np.array([0.7, 0.1, -0.6, -0.3, 0.2, 0.0])
    return xr.Dataset(
        {
            "Intercept": (("chain", "draw"), draws(rng, loc=-1.0, scale=0.2)),
            "b": (("chain", "draw", "term"), b),
            "sd": (("chain", "draw", "sd_term"), np.abs(draws(rng, 1, loc=0.9, scale=0.1))),
            "r_therapist_id": (("chain", "draw", "therapist_id"), draws(rng, len(THERAPISTS))),
        },
        coords={"chain": [0, 1], "draw": np.arange(200), "term": TERMS, "sd_term": ["sd(therapist_id)"],
                "therapist_id": THERAPISTS},
    )


@pytest.fixture(scope="module")
def sessions():
    """A Study 1 analysis table: ebp with MAP as its reference (first category), age centred."""
    rng = np.random.default_rng(RNG_SEED)
    n = 120
    ages = rng.uniform(2, 17, n)
    SCALING["child_age"] = {"mean": float(ages.mean()), "sd": float(ages.std(ddof=1))}
    return pd.DataFrame(
        {
            "therapist_id": rng.choice(THERAPISTS, n),
            "homework": rng.integers(0, 2, n),
            "caregiver_present": rng.random(n) < 0.4,
            "licensed": rng.random(n) < 0.4,
            "ebp": pd.Categorical(rng.choice(["MAP", "CPP", "TF-CBT"], n), categories=["MAP", "CPP", "TF-CBT"]),
            "child_age": ages - ages.mean(),  # centred, as in the analysis table
            "n_ebps_trained": rng.integers(1, 6, n) - 3.0,
        }
    )


SCALING = {"child_age": {"mean": 9.5, "sd": 4.0}, "n_ebps_trained": {"mean": 3.0, "sd": 1.0}}


@pytest.fixture(scope="module")
def odds_ratios(homework_posterior):
    odds = np.exp(homework_posterior["b"])
    q = odds.quantile([0.025, 0.975], dim=("chain", "draw"))
    return pd.DataFrame(
        {
            "term": TERMS,
            "or_mean": odds.mean(("chain", "draw")).values,
            "or_q2.5": q.sel(quantile=0.025).values,
            "or_q97.5": q.sel(quantile=0.975).values,
            "prob_or_gt_1": (odds > 1).mean(("chain", "draw")).values,
        }
    )


@pytest.fixture(scope="module")
def ppc():
    rows = [("overall", "all", 0.31, 0.31, 0.27, 0.35)]
    rows += [("ebp", level, 0.2 + 0.05 * k, 0.21 + 0.05 * k, 0.1 + 0.05 * k, 0.35 + 0.05 * k)
             for k, level in enumerate(["CPP", "MAP", "TF-CBT"])]
    return pd.DataFrame(rows, columns=["variable", "level", "observed_mean", "replicated_mean",
                                       "replicated_q2.5", "replicated_q97.5"])


OUTCOME_TERMS = ["Intercept", "review_percentage", "baseline_centred", "review_percentage:baseline_centred"]


@pytest.fixture(scope="module")
def outcome_posterior():
    rng = np.random.default_rng(RNG_SEED)
    b = draws(rng, 3, scale=0.01) + np.array([-0.08, -0.3, 0.004])
    return xr.Dataset(
        {"Intercept": (("chain", "draw"), draws(rng, loc=-0.4, scale=0.1)), "b": (("chain", "draw", "term"), b),
         "sd": (("chain", "draw", "sd_term"), np.abs(draws(rng, 2, loc=0.5, scale=0.1))),
         "sigma": (("chain", "draw"), np.abs(draws(rng, loc=2.0, scale=0.05)))},
        coords={"chain": [0, 1], "draw": np.arange(200), "term": OUTCOME_TERMS[1:],
                "sd_term": ["sd(therapist_id)", "sd(client_id)"]},
    )


@pytest.fixture(scope="module")
def intervals():
    rng = np.random.default_rng(RNG_SEED)
    n = 400
    baseline = rng.integers(0, 28, n)
    bands = pd.cut(baseline, [-1, 4, 9, 14, 19, 27],
                   labels=["minimal", "mild", "moderate", "moderately severe", "severe"])
    review = np.where(rng.random(n) < 0.5, 0.0, rng.gamma(2, 3, n))
    change = -0.3 * (baseline - 10) - 0.08 * review + rng.normal(0, 2, n)
    return pd.DataFrame({"baseline": baseline, "band": bands, "review_percentage": review,
                         "change": np.round(change)})


@pytest.fixture(scope="module")
def study2_tables():
    methods = ["Bayesian multilevel", "GEE (exchangeable, clustered by client)"]
    bayes_vs_gee = pd.DataFrame(
        [(t, m, e, 0.01, e - 0.02, e + 0.02, np.nan if m.startswith("Bayes") else 0.03, 0.1)
         for t, e in zip(OUTCOME_TERMS, [-0.3, -0.09, -0.26, 0.001]) for m in methods],
        columns=["term", "method", "estimate", "std_error", "ci_low", "ci_high", "p_value", "gap_in_posterior_sd"],
    )
    slopes = pd.DataFrame(
        [(band, base, m, -0.09, 0.02, -0.13, -0.05, -0.12, -0.06, 0.99 if m == "posterior" else np.nan,
          np.nan if m == "posterior" else 0.001)
         for m in ("posterior", "GEE") for band, base in (("mild", 7.0), ("moderate", 12.0),
                                                            ("moderately severe or severe", 21.0))],
        columns=["band", "baseline", "method", "estimate", "std_error", "ci_low", "ci_high", "ci90_low",
                 "ci90_high", "p_beneficial", "p_value"],
    )
    naive = pd.DataFrame(
        [(t, e, e - 0.03, e + 0.03, e * 0.8, e * 0.8 - 0.03, e * 0.8 + 0.03, truth)
         for t, e, truth in (("review_percentage", -0.09, -0.08), ("review_percentage:baseline_centred", 0.001, 0.006))],
        columns=["term", "naive_estimate", "naive_ci_low", "naive_ci_high", "corrected_estimate",
                 "corrected_ci_low", "corrected_ci_high", "truth"],
    )
    return {"bayes_vs_gee": bayes_vs_gee, "slopes": slopes, "naive": naive}


@pytest.fixture(scope="module")
def study2_sessions():
    rng = np.random.default_rng(RNG_SEED)
    n = 300
    review = np.where(rng.random(n) < 0.5, 0.0, rng.gamma(2, 3, n))
    return pd.DataFrame({"ar_count": rng.integers(0, 9, n), "review_percentage": review})


# ------------------------------------------------------------------------------ figures


def figure_cases(request):
    """(name, function making the figure) for every figure of the workflow."""
    homework = request.getfixturevalue("homework_posterior")
    analysis = request.getfixturevalue("sessions")
    ors = request.getfixturevalue("odds_ratios")
    outcome = request.getfixturevalue("outcome_posterior")
    iv = request.getfixturevalue("intervals")
    s2 = request.getfixturevalue("study2_tables")
    bands = {"mild": 7.0, "moderate": 12.0, "moderately severe or severe": 21.0}
    references = reference_levels_of(analysis, ors["term"])

    def review_change():
        return study2.review_change_figure({"phq9": study2.review_change_panel(iv, outcome, bands, 10.0)})

    return {
        "odds_ratios": lambda: study1.odds_ratio_forest_figure(ors, references),
        "predicted_probability": lambda: study1.predicted_probability_figure(
            study1.probability_curves(homework, analysis, SCALING)
        ),
        "therapist_effects": lambda: study1.caterpillar_figure(study1.group_effect_intervals(homework)),
        "posterior_predictive": lambda: study1.ppc_figure(request.getfixturevalue("ppc")),
        "session_distributions": lambda: study2.session_distributions_figure(request.getfixturevalue("study2_sessions")),
        "review_vs_change": review_change,
        "severity_slopes": lambda: study2.severity_slopes_figure({"phq9": s2["slopes"], "gad7": s2["slopes"]}),
        "bayes_vs_gee": lambda: study2.bayes_vs_gee_figure({"phq9": s2["bayes_vs_gee"], "gad7": s2["bayes_vs_gee"]}),
        "naive_vs_corrected": lambda: study2.naive_vs_corrected_figure({"phq9": s2["naive"], "gad7": s2["naive"]}),
        "rank_plot": lambda: diagnostics.rank_plot_figure(homework),
    }


FIGURES = [
    "odds_ratios", "predicted_probability", "therapist_effects", "posterior_predictive", "session_distributions",
    "review_vs_change", "severity_slopes", "bayes_vs_gee", "naive_vs_corrected", "rank_plot",
]


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_a_valid_png_and_pdf_with_identical_bytes_on_rerender(name, request, tmp_path):
    make = figure_cases(request)[name]
    first = save_figure(make(), tmp_path / "a" / name)
    second = save_figure(make(), tmp_path / "b" / name)
    png, pdf = first
    assert [p.suffix for p in first] == [".png", ".pdf"]
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        width, height = image.size
        assert image.info.get("dpi", (DPI, DPI))[0] == pytest.approx(DPI, rel=0.01)
        pixels = np.asarray(image.convert("L"))
    # Between one column (3.5 in) and a full page width (7 in) at 200 dpi, never a sliver.
    assert 500 <= width <= 1600 and 250 <= height <= 2200, (width, height)
    assert pixels.std() > 10, "the figure is blank"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 2000
    assert b"CreationDate" not in pdf.read_bytes()
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two renders"


def test_save_figure_accepts_a_path_with_suffix_and_writes_both(tmp_path, request):
    fig = figure_cases(request)["posterior_predictive"]()
    paths = save_figure(fig, tmp_path / "ppc.png")
    assert sorted(p.name for p in paths) == ["ppc.pdf", "ppc.png"] and all(p.exists() for p in paths)


def test_caterpillar_shows_no_identifiers(homework_posterior):
    effects = study1.group_effect_intervals(homework_posterior)
    assert list(effects.columns) == ["rank", "mean", "low", "high"]
    assert effects["mean"].is_monotonic_increasing
    fig = study1.caterpillar_figure(effects)
    texts = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert not any(t.startswith("T-") for t in texts)


def test_predicted_probability_is_on_the_original_age_scale(homework_posterior, sessions):
    curves = study1.probability_curves(homework_posterior, sessions, SCALING)
    assert set(curves) == {"caregiver_present", "licensed"}
    ages = curves["caregiver_present"]["child_age"]
    mean_age = SCALING["child_age"]["mean"]
    assert ages.min() == pytest.approx(sessions["child_age"].min() + mean_age)
    assert ages.max() == pytest.approx(sessions["child_age"].max() + mean_age)
    assert 2 <= ages.min() < ages.max() <= 17
    table = curves["caregiver_present"]
    assert ((table["low"] <= table["mean"]) & (table["mean"] <= table["high"])).all()
    assert table["mean"].between(0, 1).all()
    # A caregiver raises the odds in this posterior (b = 0.7): higher probability at every age.
    present, absent = (table[table["level"] == v]["mean"].to_numpy() for v in (True, False))
    assert (present > absent).all()


def test_predicted_probability_needs_the_terms():
    posterior = xr.Dataset({"b": (("chain", "draw", "term"), np.zeros((1, 2, 1)))}, coords={"term": ["ebp_fit"]})
    with pytest.raises(ValueError, match="child_age"):
        study1.probability_curves(posterior, pd.DataFrame({"ebp_fit": [0.0]}), {})


def test_binned_change_suppresses_small_cells(intervals):
    bands = {"mild": 7.0, "moderate": 12.0, "moderately severe or severe": 21.0}
    binned = study2.binned_change(intervals, bands, min_cell=11)
    assert (binned["n"] >= 11).all()
    assert set(binned["band"]) <= set(bands)
    strict = study2.binned_change(intervals, bands, min_cell=10_000)
    assert strict.empty


def test_rank_plot_has_at_most_twelve_panels():
    rng = np.random.default_rng(1)
    terms = [f"x{i}" for i in range(20)]
    posterior = xr.Dataset(
        {"Intercept": (("chain", "draw"), draws(rng)), "b": (("chain", "draw", "term"), draws(rng, 20)),
         "sd": (("chain", "draw", "sd_term"), np.abs(draws(rng, 2)))},
        coords={"term": terms, "sd_term": ["sd(a)", "sd(b)"]},
    )
    params = diagnostics.main_parameters(posterior)
    assert len(params.data_vars) == 12
    assert list(params.data_vars)[0] == "Intercept" and list(params.data_vars)[-2:] == ["sd(a)", "sd(b)"]


# ------------------------------------------------------------------------------- labels


def test_labels_follow_the_terms_and_reference_levels(sessions, odds_ratios):
    references = reference_levels_of(sessions, odds_ratios["term"])
    assert references["ebp"] == "MAP" and references["licensed"] is False
    assert term_label("caregiver_present[True]") == "Caregiver present"
    assert term_label("child_age") == "Child age (per year)"
    assert term_label("ebp[CPP]", references) == "EBP: CPP vs MAP"
    assert term_label("sd(therapist_id)") == "SD between therapists"
    assert term_label("new_thing") == "New thing"
    rows = term_rows(odds_ratios["term"], references)
    headers = [r["label"] for r in rows if r["term"] is None]
    assert headers == ["EBP (vs MAP)"]
    # formula order, with a categorical's levels right under its header
    assert [r["term"] for r in rows][:5] == ["caregiver_present[True]", "child_age", "licensed[True]", None, "ebp[CPP]"]


def test_reference_level_is_the_level_no_term_names():
    table = pd.DataFrame({"ebp": pd.Categorical(["A", "B", "C"], categories=["A", "B", "C"])})
    assert reference_levels_of(table, ["ebp[A]", "ebp[C]"])["ebp"] == "B"
    assert reference_levels_of(table)["ebp"] == "A"


# ------------------------------------------------------------------------------- tables


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self._row, self._in_cell = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._in_cell = True
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "tr":
            self.rows.append(self._row)
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self._row[-1] += data


def table_cases(request):
    ors = request.getfixturevalue("odds_ratios")
    s2 = request.getfixturevalue("study2_tables")
    summary = pd.DataFrame({"term": ["sd(therapist_id)"], "mean": [0.9], "q2.5": [0.5], "q97.5": [1.3]})
    icc = pd.DataFrame({"group": ["therapist_id"], "measure": ["icc"], "mean": [0.2], "q2.5": [0.1], "q97.5": [0.3]})
    references = reference_levels_of(request.getfixturevalue("sessions"), ors["term"])
    diag = {"family": "bernoulli", "n_obs": 680, "sampler": "nutpie", "chains": 4, "draws": 1000,
            "max_rhat": 1.004, "min_ess_bulk": 812.4, "min_ess_tail": 344.0, "divergences": 0,
            "gate": {"max_rhat": 1.01, "min_ess": 400}, "gate_passed": False,
            "gate_failures": ["min tail ESS 344 < 400"]}
    replication = pd.DataFrame(
        [("overall", "n_sessions", 2444.0, None), ("overall", "share_sessions_with_ar", 0.957, "0.95"),
         ("overall", "share_ar_1", 0.03, None), ("O-1", "n_sessions", 100.0, None)],
        columns=["scope", "statistic", "value", "published"],
    )
    table1 = pd.DataFrame(
        [("sessions", "n", "n", "680"), ("sessions", "ebp: CPP", "n (%)", "45 (6.6%)"),
         ("therapists", "n", "n", "103"), ("therapists", "race_ethnicity: Black", "n (%)", "<11")],
        columns=["level", "variable", "statistic", "value"],
    )
    return {
        # name: (table, number of display rows, a display cell that must appear)
        "table2": (tables.odds_ratio_table(ors, summary, icc, references), len(TERMS) + 1 + 3, "EBP (vs MAP)"),
        "table3": (tables.outcome_models_table({"phq9": s2["bayes_vs_gee"]}), 1 + 4, "Review percentage (per point)"),
        "replication": (tables.replication_table(replication), 3, "Sessions with at least one AR"),
        "diagnostics": (tables.diagnostics_table({"homework": diag}), 1, "no (min tail ESS 344 < 400)"),
        "table1": (tables.table1(table1, "study1"), 4, "Therapist race/ethnicity: Black"),
    }


@pytest.mark.parametrize("name", ["table2", "table3", "replication", "diagnostics", "table1"])
def test_table_renders_all_four_formats(name, request, tmp_path):
    table, n_rows, cell = table_cases(request)[name]
    assert len(table.display) == n_rows
    paths = tables.write_table_formats(table, tmp_path / table.name)
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex", ".html"]
    csv = pd.read_csv(paths[0])
    assert len(csv) == len(table.data)
    md = paths[1].read_text()
    assert cell in md and md.count("\n|") >= n_rows + 1
    tex = paths[2].read_text()
    for command in ("\\begin{tabular}", "\\toprule", "\\midrule", "\\bottomrule", "\\caption{"):
        assert command in tex
    assert re.search(r"(?<!\\)[%&_#]", tex.split("\\begin{tabular}")[1].replace("&", "")) is None
    assert tex.count("\\\\") == n_rows + 1  # header and one line per row
    parser = _Cells()
    parser.feed(paths[3].read_text())
    assert len(parser.rows) == n_rows + 1
    assert any(cell in row for row in parser.rows)


def test_table2_keeps_numbers_in_the_csv_and_rounds_for_reading(request):
    table, _, _ = table_cases(request)["table2"]
    row = table.data.set_index("term").loc["caregiver_present[True]"]
    assert isinstance(row["estimate"], float) and row["ci_low"] < row["estimate"] < row["ci_high"]
    shown = table.display.set_index("Predictor").loc["Caregiver present", "OR (95% CrI)"]
    assert re.fullmatch(r"\d\.\d{2} \[\d\.\d{2}, \d\.\d{2}\]", shown), shown


def test_rounding_gives_about_three_significant_digits():
    assert tables.fmt_interval(2.8078, 1.5589, 4.7298) == "2.81 [1.56, 4.73]"
    assert tables.fmt_interval(-0.00074, -0.0081, 0.0064) == "-0.00074 [-0.00810, 0.00640]"
    assert tables.fmt_p(0.0000014) == "<.001" and tables.fmt_p(0.045) == ".045" and tables.fmt_p(0.949) == ".95"

