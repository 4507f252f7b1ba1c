"""The geometry chosen from the data (backend/geometry.py): centring per factor and the mass matrix."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from homeworkflow.models import ModelSpec, ModelSpecError
from homeworkflow.models.backend.geometry import choose_geometry, level_reliability
from homeworkflow.models.spec.formula import build_design
from homeworkflow.models.spec.priors import resolve_priors

DATA = Path(__file__).parent / "data"
GUIMMUN = "immun ~ kid2p + mom25p + ord + ethn + momEd + husEd + momWork + rural + pcInd81 + (1 | mom) + (1 | comm)"


def real(file: str, formula: str, family: str):
    return build_design(pd.read_csv(DATA / file), formula, family, {})


def one_way(levels: int, size: int, tau: float, sigma: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), size)
    y = rng.normal(0, tau, levels)[g] + rng.normal(0, sigma, g.size)
    return pd.DataFrame({"y": y, "x": rng.normal(size=g.size), "g": [f"g{i}" for i in g]})


@pytest.mark.parametrize(("size", "tau", "sigma"), [(20, 0.5, 1.0), (4, 1.0, 1.0), (2, 0.3, 1.0)])
def test_reliability_ratio_is_the_anova_signal_to_noise(size, tau, sigma):
    kappas = []
    for seed in range(20):
        d = build_design(one_way(200, size, tau, sigma, seed), "y ~ x + (1 | g)", "gaussian", {})
        kappas.append(np.median(level_reliability(d, d.group_effects[0])))
    assert np.mean(kappas) == pytest.approx(size * tau**2 / sigma**2, rel=0.15)


def test_reliability_counts_binomial_trials():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(100), 5)
    trials = np.full(g.size, 50)
    success = rng.binomial(trials, 1 / (1 + np.exp(-rng.normal(0, 0.5, 100)[g])))
    df = pd.DataFrame({"s": success, "n": trials, "g": g.astype(str)})
    d = build_design(df, "s | trials(n) ~ 1 + (1 | g)", "binomial", {})
    # 250 trials per level, between-level variance on the probability scale about 0.0145, trial variance 0.25
    assert np.median(level_reliability(d, d.group_effects[0])) == pytest.approx(250 * 0.0145 / 0.235, rel=0.3)


@pytest.mark.parametrize(
    ("file", "formula", "family", "mass_matrix", "centred"),
    [
        # many small groups: every effect non-centred, diagonal mass matrix
        ("guimmun.csv", GUIMMUN, "bernoulli", "diagonal", (False, False)),
        ("inhaler.csv", "rating ~ treat + period + carry + (1 | subject)", "cumulative", "diagonal", (False,)),
        # data-rich groups: centred, low-rank
        ("exam.csv", "normexam ~ standLRT + (1 | school)", "gaussian", "low_rank", (True,)),
        ("epilepsy.csv", "count ~ zAge + (1 | patient)", "poisson", "low_rank", (True,)),
        ("cbpp.csv", "incidence | trials(size) ~ C(period) + (1 | herd)", "binomial", "low_rank", (True,)),
        # a correlated bar: diagonal, its effects non-centred
        ("sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "gaussian", "diagonal", (False, False)),
        # an independent slope stays non-centred; the data-rich intercept beside it is centred
        ("sleepstudy.csv", "Reaction ~ Days + (Days || Subject)", "gaussian", "low_rank", (True, False)),
    ],
)
def test_auto_geometry_follows_the_data(file, formula, family, mass_matrix, centred):
    d = real(file, formula, family)
    geometry = choose_geometry(d, "auto", "auto")
    assert geometry.mass_matrix == mass_matrix and geometry.centred == centred
    assert "mass_matrix" in geometry.reasons
    in_blocks = {k for block in d.correlation_blocks for k in block.members}
    intercepts = {e.factor for k, e in enumerate(d.group_effects) if e.column is None and k not in in_blocks}
    centring = {key: why for key, why in geometry.reasons.items() if key.startswith("centring")}
    assert set(centring) == {f"centring {factor}" for factor in intercepts}
    assert all("reliability ratio" in why for why in centring.values())


def test_explicit_choices_are_kept_and_auto_centring_needs_the_low_rank_matrix():
    d = real("exam.csv", "normexam ~ standLRT + (1 | school)", "gaussian")
    assert choose_geometry(d, "non_centred", "auto").centred == (False,)
    assert choose_geometry(d, {"school": "non_centred"}, "auto").centred == (False,)
    diagonal = choose_geometry(d, "auto", "diagonal")
    assert diagonal.centred == (False,) and "low-rank" in diagonal.reasons["centring school"]
    assert "mass_matrix" not in diagonal.reasons
    assert choose_geometry(d, "auto", "auto", sampler="pymc").centred == (False,)
    poor = real("guimmun.csv", GUIMMUN, "bernoulli")
    assert choose_geometry(poor, {"comm": "centred"}, "diagonal").centred == (False, True)


def test_centring_errors_name_the_factor():
    d = real("sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "gaussian")
    with pytest.raises(ModelSpecError, match="only independent group intercepts"):
        choose_geometry(d, "centred", "auto")
    with pytest.raises(ModelSpecError, match=r"\['school'\]"):
        choose_geometry(d, {"school": "centred"}, "auto")
    with pytest.raises(ModelSpecError, match="centring must be one of"):
        ModelSpec.from_config("m", {"formula": "y ~ 1 + (1 | g)", "centring": "centered"})
    with pytest.raises(ModelSpecError, match="centring must be one of"):
        ModelSpec.from_config("m", {"formula": "y ~ 1 + (1 | g)", "centring": {"g": "yes"}})


def test_centred_model_has_the_same_density_as_the_non_centred_one_up_to_the_jacobian():
    """r = z * sd: log p_centred(r, sd) = log p_noncentred(z, sd) - log sd per level."""
    from homeworkflow.models.backend.build import build_model

    d = build_design(one_way(7, 5, 1.0, 1.0), "y ~ x + (1 | g)", "gaussian", {})
    priors = resolve_priors("gaussian", {}, d.terms, [e.label for e in d.group_effects])
    plain, centred = build_model(d, "gaussian", priors), build_model(d, "gaussian", priors, [True])
    assert {rv.name for rv in centred.free_RVs} == {"Intercept_std", "b_std", "sd_std", "r_std_0", "sigma_std"}
    assert "z_0" in {v.name for v in centred.deterministics}
    point = plain.initial_point()
    point = {k: np.full_like(v, 0.3) for k, v in point.items()}
    sd = np.exp(point["sd_std_log__"])
    shifted = {("r_std_0" if k == "z_0" else k): (v * sd if k == "z_0" else v) for k, v in point.items()}
    difference = centred.compile_logp()(shifted) - plain.compile_logp()(point)
    assert difference == pytest.approx(-7 * np.log(sd))


def test_the_sampler_gets_the_chosen_geometry(monkeypatch):
    import homeworkflow.models.fit as fit

    class Stop(Exception):
        pass

    seen = []

    def sampler(model, spec, threads, packed):
        seen.append((spec.mass_matrix, {rv.name for rv in model.free_RVs}))
        raise Stop

    monkeypatch.setattr(fit, "run_sampler", sampler)
    data = one_way(30, 10, 1.0, 1.0)
    for formula, setting, mass_matrix, variable in [
        ("y ~ x + (1 + x | g)", "auto", "diagonal", "z_0"),
        ("y ~ x + (1 | g)", "auto", "low_rank", "r_std_0"),
        ("y ~ x + (1 | g)", "diagonal", "diagonal", "z_0"),
    ]:
        spec = ModelSpec.from_config("m", {"formula": formula, "family": "gaussian", "mass_matrix": setting})
        with pytest.raises(Stop):
            fit.fit_model(data, spec)
        assert seen[-1][0] == mass_matrix and variable in seen[-1][1]
