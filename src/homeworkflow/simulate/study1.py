"""Study 1 (Corona et al.): homework in recorded sessions, sessions in clients in therapists.

Predictors are drawn with the confounding the paper adjusted for (EBP gated by child age;
caregiver attendance depending on age and EBP), then homework ~ Bernoulli(logit^-1(eta)) with
therapist and client random intercepts. Every number is a key of `STUDY1_DEFAULTS` below
(config/README.md, "Simulators", shows how to override them).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy.special import expit

from ..data.contract import STUDY1_EBPS, STUDY1_RACE_ETHNICITY
from .common import (
    allocate,
    calibrate_logistic_intercept,
    check_probability,
    draw_categorical,
    exact_flags,
    exact_shares,
    jsonable,
    labels,
    make_ids,
    require,
    resolve_params,
)


def snake(level: str) -> str:
    """Config key for a category level: 'TF-CBT' -> 'tf_cbt', 'Hispanic/Latinx' -> 'hispanic_latinx'."""
    return re.sub(r"[^a-z0-9]+", "_", level.lower()).strip("_")


EBP_KEYS = {snake(level): level for level in STUDY1_EBPS}
RACE_KEYS = {snake(level): level for level in STUDY1_RACE_ETHNICITY}
REFERENCE_EBP = "MAP"
REFERENCE_RACE = STUDY1_RACE_ETHNICITY[0]
NON_REFERENCE_EBP_KEYS = [k for k, v in EBP_KEYS.items() if v != REFERENCE_EBP]
NON_REFERENCE_RACE_KEYS = [k for k, v in RACE_KEYS.items() if v != REFERENCE_RACE]

STUDY1_DEFAULTS: dict = {
    "sizes": {"n_therapists": 103, "n_clients": 274, "n_sessions": 680},
    "allocation": {
        "clients_per_therapist_concentration": 2.0,
        "sessions_per_client_concentration": 1.0,
    },
    "therapists": {
        "p_licensed": 0.42,
        "n_ebps_trained_min": 1,
        "n_ebps_trained_max": 6,
        "n_ebps_trained_p": 0.35,
        "emotional_exhaustion_mean": 2.5,
        "emotional_exhaustion_sd": 1.3,
        "direct_client_hours_mean": 20.0,
        "direct_client_hours_sd": 7.0,
    },
    "race_ethnicity_shares": {
        "hispanic_latinx": 0.55,
        "white": 0.20,
        "asian_american": 0.12,
        "black": 0.07,
        "other": 0.06,
    },
    "clients": {
        "child_age_mean": 9.85,
        "child_age_sd": 4.0,
        "child_age_min": 1.0,
        "child_age_max": 18.0,
        "p_female": 0.52,
        "p_latinx": 0.72,
    },
    "ebp_weights": {
        "map": 0.30,
        "tf_cbt": 0.20,
        "cpp": 0.35,
        "seeking_safety": 0.30,
        "triple_p": 0.20,
        "cbits": 0.20,
    },
    "ebp_min_age": {
        "map": 1,
        "tf_cbt": 3,
        "cpp": 0,
        "seeking_safety": 13,
        "triple_p": 2,
        "cbits": 11,
    },
    "ebp_max_age": {
        "map": 18,
        "tf_cbt": 18,
        "cpp": 6,
        "seeking_safety": 18,
        "triple_p": 12,
        "cbits": 18,
    },
    "sessions": {
        "p_ebp_switch": 0.10,
        "p_stressful_event": 0.20,
        "ebp_fit_mean": 3.8,
        "ebp_fit_therapist_sd": 0.6,
        "ebp_fit_session_sd": 0.4,
    },
    "caregiver": {
        "rate": 0.42,
        "log_odds_per_year_of_age": -0.15,
        "sd_client": 1.0,
    },
    "caregiver_ebp_log_odds": {
        "tf_cbt": 0.3,
        "cpp": 3.0,
        "seeking_safety": -0.7,
        "triple_p": 2.5,
        "cbits": -1.0,
    },
    "homework": {
        "base_rate": 0.30,
        "or_caregiver_present": 2.0,
        "or_child_age_per_year": 1.10,
        "or_unlicensed": 1.8,
        "or_n_ebps_trained": 1.0,
        "or_ebp_fit": 1.0,
        "or_emotional_exhaustion": 1.0,
        "or_direct_client_hours": 1.0,
        "or_stressful_event": 1.0,
        "or_child_female": 1.0,
        "or_child_latinx": 1.0,
        "sd_therapist": 0.9,
        "sd_client": 0.6,
    },
    "homework_ebp_or": {
        "tf_cbt": 1.2,
        "cpp": 0.7,
        "seeking_safety": 1.1,
        "triple_p": 1.4,
        "cbits": 1.5,
    },
    "homework_race_ethnicity_or": {"white": 1.0, "asian_american": 1.0, "black": 1.0, "other": 1.0},
}

# Numeric predictors of homework: model term name -> odds-ratio key in params["homework"].
NUMERIC_TERMS = {
    "child_age": "or_child_age_per_year",
    "n_ebps_trained": "or_n_ebps_trained",
    "ebp_fit": "or_ebp_fit",
    "emotional_exhaustion": "or_emotional_exhaustion",
    "direct_client_hours": "or_direct_client_hours",
}
# Boolean predictors: model term name -> (column, odds-ratio key, sign). Licensed[True] is the
# reverse of the stated contrast (unlicensed has the higher odds).
BOOLEAN_TERMS = {
    "caregiver_present[True]": ("caregiver_present", "or_caregiver_present", 1.0),
    "licensed[True]": ("licensed", "or_unlicensed", -1.0),
    "stressful_event[True]": ("stressful_event", "or_stressful_event", 1.0),
    "child_female[True]": ("child_female", "or_child_female", 1.0),
    "child_latinx[True]": ("child_latinx", "or_child_latinx", 1.0),
}


def _check(p: dict) -> None:
    s = p["sizes"]
    for key in ("n_therapists", "n_clients", "n_sessions"):
        require(int(s[key]) == s[key] and s[key] >= 1, f"sizes.{key} must be a positive integer")
    require(
        s["n_therapists"] <= s["n_clients"] <= s["n_sessions"],
        "sizes must satisfy n_therapists <= n_clients <= n_sessions "
        "(every therapist has a client, every client a session)",
    )
    shares = p["race_ethnicity_shares"]
    require(all(v >= 0 for v in shares.values()), "race_ethnicity_shares must be non-negative")
    require(abs(sum(shares.values()) - 1.0) < 1e-6, "race_ethnicity_shares must sum to 1")
    require(all(v >= 0 for v in p["ebp_weights"].values()), "ebp_weights must be non-negative")
    for key in ("p_licensed", "n_ebps_trained_p"):
        check_probability(p["therapists"][key], f"therapists.{key}")
    for key in ("p_female", "p_latinx"):
        check_probability(p["clients"][key], f"clients.{key}")
    for key in ("p_ebp_switch", "p_stressful_event"):
        check_probability(p["sessions"][key], f"sessions.{key}")
    check_probability(p["caregiver"]["rate"], "caregiver.rate", open_interval=True)
    check_probability(p["homework"]["base_rate"], "homework.base_rate", open_interval=True)
    ratios = {k: v for k, v in p["homework"].items() if k.startswith("or_")}
    ratios |= {f"homework_ebp_or.{k}": v for k, v in p["homework_ebp_or"].items()}
    ratios |= {
        f"homework_race_ethnicity_or.{k}": v for k, v in p["homework_race_ethnicity_or"].items()
    }
    for key, value in ratios.items():
        require(value > 0, f"odds ratio {key} must be positive, got {value}")
    t = p["therapists"]
    require(
        1 <= t["n_ebps_trained_min"] <= t["n_ebps_trained_max"],
        "need 1 <= n_ebps_trained_min <= max",
    )
    c = p["clients"]
    require(
        1 <= c["child_age_min"] < c["child_age_max"] <= 21, "child age range must lie in [1, 21]"
    )
    require(
        c["child_age_min"] < c["child_age_mean"] < c["child_age_max"],
        "child_age_mean outside range",
    )


def _child_ages(rng: np.random.Generator, n: int, c: dict) -> np.ndarray:
    """Scaled Beta ages on [min, max] with the requested mean and SD, to 0.1 year."""
    width = c["child_age_max"] - c["child_age_min"]
    m = (c["child_age_mean"] - c["child_age_min"]) / width
    v = (c["child_age_sd"] / width) ** 2
    require(0 < v < m * (1 - m), "child_age_sd too large for the child age range and mean")
    k = m * (1 - m) / v - 1
    ages = c["child_age_min"] + width * rng.beta(m * k, (1 - m) * k, size=n)
    return np.clip(np.round(ages, 1), c["child_age_min"], c["child_age_max"])


def _eligible_ebps(ages: np.ndarray, p: dict) -> np.ndarray:
    """(clients x EBPs) bool: the EBP serves the child's age in completed years (bounds inclusive)."""
    years = np.floor(ages)[:, None]
    low = np.array([p["ebp_min_age"][k] for k in EBP_KEYS])
    high = np.array([p["ebp_max_age"][k] for k in EBP_KEYS])
    eligible = (years >= low) & (years <= high)
    weights = np.array([p["ebp_weights"][k] for k in EBP_KEYS])
    uncovered = ~((eligible * weights) > 0).any(axis=1)
    require(
        not uncovered.any(),
        f"no EBP with positive weight serves children aged {sorted(set(years[uncovered, 0]))[:5]}",
    )
    return eligible


def simulate_study1(
    params: dict | None = None, seed: int = 0
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Simulate Study 1's therapists, clients and sessions; return (tables, truth)."""
    p = resolve_params(STUDY1_DEFAULTS, params, "study1")
    _check(p)
    rng = np.random.default_rng(seed)
    s, a = p["sizes"], p["allocation"]
    n_t, n_c, n_s = int(s["n_therapists"]), int(s["n_clients"]), int(s["n_sessions"])

    # Nesting: uneven, but every therapist has a client and every client a session.
    clients_per_therapist = allocate(
        rng, n_c, n_t, concentration=a["clients_per_therapist_concentration"], what="clients"
    )
    client_therapist = np.repeat(np.arange(n_t), clients_per_therapist)
    sessions_per_client = allocate(
        rng, n_s, n_c, concentration=a["sessions_per_client_concentration"], what="sessions"
    )
    session_client = np.repeat(np.arange(n_c), sessions_per_client)
    session_therapist = client_therapist[session_client]

    # Therapists.
    t = p["therapists"]
    licensed = exact_flags(rng, n_t, t["p_licensed"])
    race_shares = np.array([p["race_ethnicity_shares"][k] for k in RACE_KEYS])
    race = exact_shares(rng, n_t, race_shares)
    exhaustion = np.round(
        np.clip(
            rng.normal(t["emotional_exhaustion_mean"], t["emotional_exhaustion_sd"], n_t), 0, 6
        ),
        2,
    )
    hours = np.round(
        np.clip(rng.normal(t["direct_client_hours_mean"], t["direct_client_hours_sd"], n_t), 0, 80),
        1,
    )
    trained_draw = t["n_ebps_trained_min"] + rng.binomial(
        t["n_ebps_trained_max"] - t["n_ebps_trained_min"], t["n_ebps_trained_p"], n_t
    )

    # Clients.
    c = p["clients"]
    ages = _child_ages(rng, n_c, c)
    female = exact_flags(rng, n_c, c["p_female"])
    latinx = exact_flags(rng, n_c, c["p_latinx"])

    # EBP: age-gated; one per client, occasionally another eligible one in a session.
    eligible = _eligible_ebps(ages, p)
    ebp_weights = np.array([p["ebp_weights"][k] for k in EBP_KEYS])
    client_ebp = draw_categorical(rng, eligible * ebp_weights)
    ebp = client_ebp[session_client]
    switch = np.flatnonzero(rng.random(n_s) < p["sessions"]["p_ebp_switch"])
    ebp[switch] = draw_categorical(rng, eligible[session_client[switch]] * ebp_weights)

    # A therapist is trained in at least the EBPs they deliver here.
    delivered = np.unique(session_therapist * len(EBP_KEYS) + ebp) // len(EBP_KEYS)
    n_ebps_trained = np.maximum(trained_draw, np.bincount(delivered, minlength=n_t))

    # Session features.
    sp = p["sessions"]
    fit_therapist = rng.normal(0.0, sp["ebp_fit_therapist_sd"], n_t)
    ebp_fit = np.round(
        np.clip(
            sp["ebp_fit_mean"]
            + fit_therapist[session_therapist]
            + rng.normal(0, sp["ebp_fit_session_sd"], n_s),
            1,
            5,
        ),
        1,
    )
    stressful = rng.random(n_s) < sp["p_stressful_event"]

    # Caregiver presence: younger children and caregiver EBPs -> more; calibrated to the rate.
    cg = p["caregiver"]
    age_s = ages[session_client]
    cg_ebp = np.array(
        [0.0 if k == snake(REFERENCE_EBP) else p["caregiver_ebp_log_odds"][k] for k in EBP_KEYS]
    )
    cg_linear = cg["log_odds_per_year_of_age"] * (age_s - c["child_age_mean"]) + cg_ebp[ebp]
    cg_intercept = calibrate_logistic_intercept(
        cg_linear, cg["sd_client"], cg["rate"], "caregiver.rate"
    )
    cg_client = rng.normal(0.0, cg["sd_client"], n_c)
    caregiver = rng.random(n_s) < expit(cg_intercept + cg_linear + cg_client[session_client])

    # Homework: fixed effects on raw covariates, intercept calibrated to the marginal base rate.
    hw = p["homework"]
    log_odds = {name: math.log(hw[key]) for name, key in NUMERIC_TERMS.items()}
    log_odds |= {name: sign * math.log(hw[key]) for name, (_, key, sign) in BOOLEAN_TERMS.items()}
    log_odds |= {
        f"ebp[{EBP_KEYS[k]}]": math.log(p["homework_ebp_or"][k]) for k in NON_REFERENCE_EBP_KEYS
    }
    log_odds |= {
        f"race_ethnicity[{RACE_KEYS[k]}]": math.log(p["homework_race_ethnicity_or"][k])
        for k in NON_REFERENCE_RACE_KEYS
    }
    sessions_numeric = {
        "child_age": age_s,
        "n_ebps_trained": n_ebps_trained[session_therapist],
        "ebp_fit": ebp_fit,
        "emotional_exhaustion": exhaustion[session_therapist],
        "direct_client_hours": hours[session_therapist],
    }
    sessions_boolean = {
        "caregiver_present": caregiver,
        "licensed": licensed[session_therapist],
        "stressful_event": stressful,
        "child_female": female[session_client],
        "child_latinx": latinx[session_client],
    }
    ebp_effect = np.array([log_odds.get(f"ebp[{level}]", 0.0) for level in STUDY1_EBPS])
    race_effect = np.array(
        [log_odds.get(f"race_ethnicity[{level}]", 0.0) for level in STUDY1_RACE_ETHNICITY]
    )
    linear = ebp_effect[ebp] + race_effect[race][session_therapist]
    for name, values in sessions_numeric.items():
        linear = linear + log_odds[name] * values
    for name, (column, _, _) in BOOLEAN_TERMS.items():
        linear = linear + log_odds[name] * sessions_boolean[column]
    sd_total = math.hypot(hw["sd_therapist"], hw["sd_client"])
    intercept = calibrate_logistic_intercept(
        linear, sd_total, hw["base_rate"], "homework.base_rate"
    )
    u_therapist = rng.normal(0.0, hw["sd_therapist"], n_t)
    u_client = rng.normal(0.0, hw["sd_client"], n_c)
    eta = intercept + linear + u_therapist[session_therapist] + u_client[session_client]
    homework = rng.random(n_s) < expit(eta)

    therapist_ids = make_ids("T", n_t, 3)
    client_ids = make_ids("C", n_c, 4)
    tables = {
        "therapists": pd.DataFrame(
            {
                "therapist_id": therapist_ids,
                "licensed": licensed,
                "race_ethnicity": labels(STUDY1_RACE_ETHNICITY, race),
                "n_ebps_trained": n_ebps_trained.astype(np.int64),
                "emotional_exhaustion": exhaustion,
                "direct_client_hours": hours,
            }
        ),
        "clients": pd.DataFrame(
            {
                "client_id": client_ids,
                "therapist_id": therapist_ids.take(client_therapist),
                "child_age": ages,
                "child_female": female,
                "child_latinx": latinx,
            }
        ),
        "sessions": pd.DataFrame(
            {
                "session_id": make_ids("S", n_s, 5),
                "client_id": client_ids.take(session_client),
                "ebp": labels(STUDY1_EBPS, ebp),
                "caregiver_present": caregiver,
                "ebp_fit": ebp_fit,
                "stressful_event": stressful,
                "homework": homework,
            }
        ),
    }

    numeric_means = {name: float(np.mean(values)) for name, values in sessions_numeric.items()}
    truth = {
        "study": "study1",
        "seed": seed,
        "params": p,
        "sizes": {"n_therapists": n_t, "n_clients": n_c, "n_sessions": n_s},
        "log_odds": {
            "Intercept": intercept,
            **log_odds,
            "sd(therapist_id)": hw["sd_therapist"],
            "sd(client_id)": hw["sd_client"],
        },
        "odds_ratios": {name: math.exp(value) for name, value in log_odds.items()},
        "reference_levels": {
            "ebp": REFERENCE_EBP,
            "race_ethnicity": REFERENCE_RACE,
            **{column: False for column, _, _ in BOOLEAN_TERMS.values()},
        },
        "intercept_meaning": (
            "log-odds of homework on the raw (uncentred) covariates: numeric predictors at 0, "
            "booleans False (unlicensed, no caregiver, no stressful event), ebp MAP, race_ethnicity "
            "Hispanic/Latinx, random intercepts 0. It was calibrated so that the mean over sessions "
            "of P(homework), random intercepts integrated out, equals params.homework.base_rate."
        ),
        "intercept_at_numeric_means": intercept
        + sum(log_odds[name] * numeric_means[name] for name in NUMERIC_TERMS),
        "numeric_means": numeric_means,
        "caregiver_model": {
            "Intercept_at_child_age_mean": cg_intercept,
            "child_age": cg["log_odds_per_year_of_age"],
            **{
                f"ebp[{level}]": float(cg_ebp[i])
                for i, level in enumerate(STUDY1_EBPS)
                if level != REFERENCE_EBP
            },
            "sd(client_id)": cg["sd_client"],
        },
        "realised": {
            "homework_rate": float(homework.mean()),
            "caregiver_rate": float(caregiver.mean()),
            "unlicensed_share": float(1 - licensed.mean()),
            "mean_child_age": float(ages.mean()),
            "ebp_shares": {level: float(np.mean(ebp == i)) for i, level in enumerate(STUDY1_EBPS)},
        },
    }
    return tables, jsonable(truth)
