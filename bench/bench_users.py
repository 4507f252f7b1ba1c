"""Users' models: the workflow's `models:` job against what a user would otherwise write, side by side.

For each real data set in tests/data/ (contraception, exam and the families sets: sleepstudy
gaussian and student with correlated `(Days | Subject)`, cbpp binomial, epilepsy poisson and
negative binomial, inhaler cumulative) and each seed, one run of each, one after another:

- `workflow-cold` / `workflow-warm`: `snakemake` with a config whose `models:` entry names the CSV,
  the brms formula and the family, as a user writes it (every other setting at its default), in a
  scratch directory; cold = the model's own compile cache emptied first (the generic kernel,
  compiled once per machine, stays cached, as PyMC's compiled C code does for `pymc`), warm = the
  same job again after its outputs are deleted. Wall = the whole `snakemake` command. One
  untimed job first compiles the kernel into the machine's cache, `.cache/bench_users/numba`.
- `pymc`: a plain hand-written PyMC model of the same formula (non-centred group effects, the
  priors a user copies from PyMC's examples) sampled with `pm.sample()` defaults, in a fresh Python
  process; wall = the whole process (imports, model, sampling).
- `pymc-cold`: the same with an empty PyTensor compile cache, as on a machine that never ran PyMC
  (`pymc` keeps the cache of earlier runs, so for it the model's C code is usually compiled).
- `nutpie`: the same model with `pm.sample(nuts_sampler="nutpie")` and nutpie's defaults.

min bulk ESS is over the population-level terms (intercepts or thresholds, coefficients) and the
group SDs. ESS/s = min bulk ESS / wall. Ratios are against `pymc`, `pymc-cold` and `nutpie` of the same set and
seed; the summary row per set takes medians over seeds.

    .venv/bin/python bench/bench_users.py [--sets cbpp inhaler] [--seeds 1 2 3] [--runs workflow-warm pymc]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, save  # noqa: E402

DATA = ROOT / "tests" / "data"
SCRATCH = ROOT / ".cache" / "bench_users"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
KERNEL_CACHE = SCRATCH / "numba"  # the generic kernel's numba cache, shared like a machine's
RUNS = ["workflow-cold", "workflow-warm", "pymc", "pymc-cold", "nutpie"]

# name: (file, formula as a user writes it, family)
SETS = {
    "contraception": ("contraception.csv", "use ~ age + I(age^2) + urban + livch + (1 | district)", "bernoulli"),
    "guimmun": (
        "guimmun.csv",
        "immun ~ kid2p + mom25p + ord + ethn + momEd + husEd + momWork + rural + pcInd81 + (1 | mom) + (1 | comm)",
        "bernoulli",
    ),
    "exam": ("exam.csv", "normexam ~ standLRT + sex + schgend + (1 | school)", "gaussian"),
    "sleepstudy": ("sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "gaussian"),
    "sleepstudy_student": ("sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "student"),
    "cbpp": ("cbpp.csv", "incidence | trials(size) ~ C(period) + (1 | herd)", "binomial"),
    "epilepsy_poisson": ("epilepsy.csv", "count ~ zAge + zBase * Trt + (1 | patient)", "poisson"),
    "epilepsy_negbinomial": ("epilepsy.csv", "count ~ zAge + zBase * Trt + (1 | patient)", "negbinomial"),
    "inhaler": ("inhaler.csv", "rating ~ treat + period + carry + (1 | subject)", "cumulative"),
}
# Public sets added after backend/geometry.py's rules were set and never used to choose them:
# data the rules have not seen, run only when named (`--sets hsb82 mmmec oxboys`).
UNSEEN = {
    "hsb82": ("hsb82.csv", "mAch ~ minrty + sx + ses + sector + (1 | school)", "gaussian"),
    "mmmec": ("mmmec.csv", "deaths ~ uvb + (1 | nation) + (1 | region)", "poisson"),
    "oxboys": ("oxboys.csv", "height ~ age + (1 | Subject)", "gaussian"),
}


def workflow_run(name: str, seed: int, cold: bool) -> dict:
    """The model's job through `snakemake`, as a user runs it; the min bulk ESS from summary.csv."""
    file, formula, family = {**SETS, **UNSEEN}[name]
    workdir = SCRATCH / name
    workdir.mkdir(parents=True, exist_ok=True)
    # A --configfile's `models:` replaces the default config's; keep the workflow's own (Study 2
    # names its outcome models) beside the user's, which is the only one built here.
    models = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["models"]
    models[name] = {"data": str(DATA / file), "formula": formula, "family": family, "seed": seed}
    config = {"run": "bench", "models": models}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.rmtree(workdir / "results", ignore_errors=True)
    if cold:  # the model's own cache; the generic kernel's (.cache/compile/numba) is the machine's
        shutil.rmtree(workdir / ".cache" / "compile" / name, ignore_errors=True)
    target = f"results/bench/models/{name}/summary.csv"
    args = [str(SNAKEMAKE), target, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    args += ["--configfile", str(workdir / "config.yaml"), "--cores", "2", "--quiet", "all"]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(KERNEL_CACHE)}  # one machine's kernel cache for every set
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{name}: snakemake failed\n{proc.stderr[-3000:]}")
    summary = pd.read_csv(workdir / target)
    terms = summary[~summary["term"].str.startswith(("cor(", "sigma", "nu", "shape", "phi"))]
    diagnostics = json.loads((workdir / f"results/bench/models/{name}/diagnostics.json").read_text())
    return {
        "wall_s": wall,
        "min_ess_bulk": float(terms["ess_bulk"].min()),
        "max_rhat": float(summary["r_hat"].max()),
        "divergences": diagnostics["divergences"],
        "sampling_s": diagnostics.get("sampling_s"),
        "job_outside_sampling_s": _outside_sampling(workdir / f"results/bench/logs/fit_model_{name}.log"),
    }


def _outside_sampling(log: Path) -> float:
    """The job's seconds outside sampling, from the last line of its stage log (JobStages)."""
    found = re.findall(r"job: ([0-9.]+) s outside sampling", log.read_text())
    return float(found[-1]) if found else float("nan")


def hand_written_run(name: str, seed: int, run: str) -> dict:
    """A fresh process that builds the hand-written model and samples it; wall of the process.
    `pymc-cold`: PyMC with an empty PyTensor compile cache (its C code compiled afresh), as on a
    machine that has never run PyMC; `pymc` and `nutpie` keep the user's cache."""
    sampler = run.removesuffix("-cold")
    env = dict(os.environ)
    if run.endswith("-cold"):
        compiledir = SCRATCH / name / "pytensor-cold"
        shutil.rmtree(compiledir, ignore_errors=True)
        env["PYTENSOR_FLAGS"] = f"base_compiledir={compiledir}"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps({"set": name, "seed": seed, "sampler": sampler})],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ROW ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{name} {sampler}: worker failed\n{proc.stderr[-3000:]}")
    return {"wall_s": wall, **json.loads(lines[-1][4:])}


# ---------------------------------------------------------------- the hand-written models
def hand_written_model(name: str):
    """The PyMC model a user writes for the set: non-centred group intercepts (and, for
    sleepstudy, a correlated intercept and slope through LKJCholeskyCov); returns the model and
    the names of the variables whose min bulk ESS is reported."""
    import pymc as pm

    file, _, family = {**SETS, **UNSEEN}[name]
    df = pd.read_csv(DATA / file)
    if name.startswith("sleepstudy"):
        subject, subjects = pd.factorize(df["Subject"])
        with pm.Model(coords={"subject": subjects, "effect": ["Intercept", "Days"]}) as model:
            intercept = pm.Normal("Intercept", 250, 100)
            slope = pm.Normal("b_Days", 0, 50)
            chol, _, sds = pm.LKJCholeskyCov("chol", n=2, eta=1.0, sd_dist=pm.HalfNormal.dist(50), compute_corr=True)
            pm.Deterministic("sd", sds, dims="effect")
            z = pm.Normal("z", 0, 1, dims=("effect", "subject"))
            r = pm.math.dot(chol, z)
            mu = intercept + r[0][subject] + (slope + r[1][subject]) * df["Days"].to_numpy()
            sigma = pm.HalfNormal("sigma", 50)
            if family == "student":
                nu = pm.Gamma("nu", 2, 0.1)
                pm.StudentT("y", nu=nu, mu=mu, sigma=sigma, observed=df["Reaction"].to_numpy())
            else:
                pm.Normal("y", mu, sigma, observed=df["Reaction"].to_numpy())
        return model, ["Intercept", "b_Days", "sd"]
    X, grouping, y, extra = _fixed_design(name, df)
    # Standardised numeric columns, as PyMC's examples advise: unscaled, contraception's age^2
    # (up to 378) left every PyMC draw divergent.
    numeric = [c for c in X.columns if X[c].dtype.kind == "f"]
    X[numeric] = (X[numeric] - X[numeric].mean()) / X[numeric].std()
    if family == "gaussian":  # and a standardised outcome, for the unit-scale priors below
        y = (y - y.mean()) / y.std()
    factors = {column: pd.factorize(values) for column, values in grouping.items()}
    coords = {"term": list(X.columns), "factor": list(factors)}
    coords |= {f"level_{column}": levels for column, (_, levels) in factors.items()}
    with pm.Model(coords=coords) as model:
        b = pm.Normal("b", 0, 2.5, dims="term")
        sd = pm.HalfNormal("sd", 2.5, dims="factor")
        eta = pm.math.dot(X.to_numpy(float), b)
        for k, (column, (index, _)) in enumerate(factors.items()):
            z = pm.Normal(f"z_{column}", 0, 1, dims=f"level_{column}")
            eta = eta + z[index] * sd[k]
        names = ["b", "sd"]
        if family == "cumulative":
            cutpoints = pm.Normal(
                "cutpoints", 0, 5, shape=3, transform=pm.distributions.transforms.ordered, initval=[-1, 0, 1]
            )
            pm.OrderedLogistic("y", eta=eta, cutpoints=cutpoints, observed=y - 1)
            return model, names + ["cutpoints"]
        intercept = pm.Normal("Intercept", 0, 5)
        eta = intercept + eta
        names.append("Intercept")
        if family == "bernoulli":
            pm.Bernoulli("y", logit_p=eta, observed=y)
        elif family == "binomial":
            pm.Binomial("y", n=extra, logit_p=eta, observed=y)
        elif family == "poisson":
            pm.Poisson("y", mu=pm.math.exp(eta), observed=y)
        elif family == "negbinomial":
            alpha = pm.Gamma("shape", 0.01, 0.01)
            pm.NegativeBinomial("y", mu=pm.math.exp(eta), alpha=alpha, observed=y)
        else:
            sigma = pm.HalfNormal("sigma", 2.5)
            pm.Normal("y", eta, sigma, observed=y)
    return model, names


def _fixed_design(name: str, df: pd.DataFrame):
    """Population-level columns by hand (dummies for factors), the grouping columns by name, the
    outcome, and binomial trials."""
    if name == "guimmun":
        factors = ["kid2p", "mom25p", "ord", "ethn", "momEd", "husEd", "momWork", "rural"]
        X = pd.get_dummies(df[factors].astype(str), drop_first=True).join(df["pcInd81"])
        return X, df[["mom", "comm"]], (df["immun"] == "Y").astype(int).to_numpy(), None
    if name == "mmmec":
        return df[["uvb"]].copy(), df[["nation", "region"]], df["deaths"].to_numpy(), None
    X, group, y, extra = _one_factor_design(name, df)
    return X, group.to_frame(), y, extra


def _one_factor_design(name: str, df: pd.DataFrame):
    if name == "contraception":
        X = pd.DataFrame({"age": df["age"], "age2": df["age"] ** 2, "urbanY": df["urban"] == "Y"})
        X = X.join(pd.get_dummies(df["livch"], prefix="livch", drop_first=True))
        return X, df["district"], (df["use"] == "Y").astype(int).to_numpy(), None
    if name == "exam":
        X = pd.DataFrame({"standLRT": df["standLRT"], "sexM": df["sex"] == "M"})
        X = X.join(pd.get_dummies(df["schgend"], prefix="schgend", drop_first=True))
        return X, df["school"], df["normexam"].to_numpy(), None
    if name == "hsb82":
        X = pd.DataFrame({"minrtyYes": df["minrty"] == "Yes", "sxMale": df["sx"] == "Male", "ses": df["ses"]})
        X["sectorPublic"] = df["sector"] == "Public"
        return X, df["school"], df["mAch"].to_numpy(), None
    if name == "oxboys":
        return df[["age"]].copy(), df["Subject"], df["height"].to_numpy(), None
    if name == "cbpp":
        X = pd.get_dummies(df["period"].astype(str), prefix="period", drop_first=True)
        return X, df["herd"], df["incidence"].to_numpy(), df["size"].to_numpy()
    if name.startswith("epilepsy"):
        X = pd.DataFrame({"zAge": df["zAge"], "zBase": df["zBase"], "Trt": df["Trt"]})
        X["zBase:Trt"] = X["zBase"] * X["Trt"]
        return X, df["patient"], df["count"].to_numpy(), None
    X = df[["treat", "period", "carry"]]
    return X, df["subject"], df["rating"].to_numpy(), None


def worker(job: dict) -> None:
    import warnings

    warnings.simplefilter("ignore")
    import arviz as az
    import pymc as pm

    model, names = hand_written_model(job["set"])
    kwargs = {"nuts_sampler": "nutpie"} if job["sampler"] == "nutpie" else {}
    with model:
        idata = pm.sample(random_seed=job["seed"], progressbar=False, **kwargs)
    summary = az.summary(idata, var_names=names)
    divergences = int(idata.sample_stats["diverging"].sum())
    row = {"min_ess_bulk": float(summary["ess_bulk"].min()), "max_rhat": float(summary["r_hat"].max()), "divergences": divergences}
    print("ROW " + json.dumps(row), flush=True)


def run(sets: list[str], seeds: list[int], runs: list[str]) -> list[dict]:
    rows = []
    if any(what.startswith("workflow") for what in runs):  # the machine's one compile of the kernel, untimed
        workflow_run(sets[0], seeds[0], cold=True)
    for name in sets:
        for seed in seeds:
            for what in runs:
                if what.startswith("workflow"):
                    result = workflow_run(name, seed, cold=what == "workflow-cold")
                else:
                    result = hand_written_run(name, seed, what)
                result.update(set=name, seed=seed, run=what, ess_per_s=result["min_ess_bulk"] / result["wall_s"])
                print(json.dumps(result), flush=True)
                rows.append(result)
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """Per set: median ESS/s per run over seeds, and the workflow's ratios to pymc and nutpie."""
    table = pd.DataFrame(rows)
    out = []
    for name, group in table.groupby("set", sort=False):
        median = group.groupby("run")["ess_per_s"].median()
        row = {"set": name, "seeds": int(group["seed"].nunique())}
        for what in ("workflow-warm", "workflow-cold"):
            for base in ("pymc", "pymc-cold", "nutpie"):
                if what in median and base in median:
                    row[f"{what}/{base}"] = round(float(median[what] / median[base]), 2)
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=[*SETS, *UNSEEN])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--runs", nargs="+", default=RUNS, choices=RUNS)
    parser.add_argument("--name", default="users")
    args = parser.parse_args()
    rows = run(args.sets, args.seeds, args.runs)
    notes = (
        "ESS/s = min bulk ESS over population-level terms and group SDs / wall of the whole command "
        "(snakemake for the workflow, the Python process for the hand-written models); "
        f"seeds {args.seeds}; ratios are medians over seeds."
    )
    save(args.name, rows, notes)
    save(f"{args.name}_ratios", ratios(rows), "The workflow's ESS/s over the hand-written models'; " + notes)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(json.loads(sys.argv[2]))
    else:
        main()
