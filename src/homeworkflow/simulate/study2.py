"""Study 2 (Spinrad et al. 2024): detected action recommendations (ARs), their review, and
PHQ-9 / GAD-7 change between assessments; sessions in clients in therapists in organisations.

True ARs and true review units are drawn first; a detector with set precision and recall turns them
into the observed counts. Symptom change over an assessment interval depends on the TRUE review
percentage. Every number is a key of `STUDY2_DEFAULTS` below
(config/README.md, "Simulators", shows how to override them).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from ..data.contract import GAD7_BANDS, PHQ9_BANDS
from .common import (
    allocate,
    calibration_rows,
    check_probability,
    jsonable,
    make_ids,
    require,
    resolve_params,
    solve_monotone,
)

STUDY2_DEFAULTS: dict = {
    "sizes": {
        "n_organisations": 14,
        "n_therapists": 120,
        "n_clients": 600,
        "n_sessions": 2444,
        "min_sessions_per_client": 2,
        "max_sessions_per_client": 8,
    },
    "allocation": {
        "therapists_per_organisation_concentration": 2.0,
        "clients_per_therapist_concentration": 2.0,
        "sessions_per_client_concentration": 2.0,
    },
    "dialogue": {
        "n_units_median": 160,
        "n_units_log_sd": 0.3,
        "n_units_min": 80,
        "n_units_max": 300,
    },
    "action_recommendations": {
        "max_per_session": 8,
        "detected_any_share": 0.95,
        "true_mean_if_any": 4.7,
        "sd_therapist": 0.5,
        "false_positive_ratio_without_ar": 0.1,
    },
    "reviews": {
        "detected_any_share": 0.50,
        "sd_therapist": 0.7,
        "sd_client": 0.9,
        "share_if_any_median": 0.08,
        "share_sd_client": 0.4,
        "share_sd_session": 0.5,
        "false_positive_ratio_later_without_review": 0.02,
        "false_positive_ratio_first_session": 0.005,
    },
    "detection": {
        "ar_precision": 0.76,
        "ar_recall": 0.75,
        "review_precision": 0.711,
        "review_recall": 0.75,
    },
    "assessments": {
        "gap_min": 2,
        "gap_max": 4,
        "phq9_baseline_mean": 14.0,
        "phq9_baseline_sd": 5.5,
        "gad7_baseline_mean": 11.0,
        "gad7_baseline_sd": 4.5,
        "baseline_correlation": 0.6,
    },
    "phq9_change": {
        "intercept": -0.5,
        "review_slope": -0.08,
        "interaction": 0.006,
        "baseline_slope": -0.3,
        "centre": 10.0,
        "sd_organisation": 0.4,
        "sd_therapist": 0.6,
        "sd_client": 1.0,
        "sd_residual": 2.0,
    },
    "gad7_change": {
        "intercept": -0.3,
        "review_slope": 0.0,
        "interaction": 0.0,
        "baseline_slope": -0.3,
        "centre": 7.0,
        "sd_organisation": 0.3,
        "sd_therapist": 0.5,
        "sd_client": 0.9,
        "sd_residual": 1.8,
    },
}

SCALES = {"phq9": (27, PHQ9_BANDS), "gad7": (21, GAD7_BANDS)}


def _check(p: dict) -> None:
    s = p["sizes"]
    for key in ("n_organisations", "n_therapists", "n_clients", "n_sessions"):
        require(int(s[key]) == s[key] and s[key] >= 1, f"sizes.{key} must be a positive integer")
    require(
        s["n_organisations"] <= s["n_therapists"] <= s["n_clients"],
        "sizes must satisfy n_organisations <= n_therapists <= n_clients",
    )
    require(
        1 <= s["min_sessions_per_client"] <= s["max_sessions_per_client"],
        "need 1 <= min <= max sessions per client",
    )
    low, high = (
        s["n_clients"] * s["min_sessions_per_client"],
        s["n_clients"] * s["max_sessions_per_client"],
    )
    require(
        low <= s["n_sessions"] <= high,
        f"sizes.n_sessions must lie in [{low}, {high}]: n_clients x min/max_sessions_per_client",
    )
    d = p["dialogue"]
    require(
        1 <= d["n_units_min"] <= d["n_units_median"] <= d["n_units_max"],
        "need 1 <= n_units min <= median <= max",
    )
    ar = p["action_recommendations"]
    require(
        1 <= ar["max_per_session"] <= 100, "action_recommendations.max_per_session must be 1-100"
    )
    require(
        1 < ar["true_mean_if_any"] < ar["max_per_session"],
        "true_mean_if_any must lie in (1, max_per_session)",
    )
    check_probability(
        ar["detected_any_share"], "action_recommendations.detected_any_share", open_interval=True
    )
    check_probability(
        p["reviews"]["detected_any_share"], "reviews.detected_any_share", open_interval=True
    )
    check_probability(
        p["reviews"]["share_if_any_median"], "reviews.share_if_any_median", open_interval=True
    )
    for key, value in p["detection"].items():
        check_probability(value, f"detection.{key}", open_interval=key.endswith("precision"))
        require(value > 0, f"detection.{key} must be positive")
    a = p["assessments"]
    require(1 <= a["gap_min"] <= a["gap_max"], "need 1 <= assessments.gap_min <= gap_max")
    require(
        -1 <= a["baseline_correlation"] <= 1, "assessments.baseline_correlation must lie in [-1, 1]"
    )


def _session_structure(rng: np.random.Generator, p: dict) -> dict:
    """Organisation / therapist / client / session nesting, with session numbers 1..k per client."""
    s, a = p["sizes"], p["allocation"]
    n_o, n_t, n_c, n_s = (
        int(s[k]) for k in ("n_organisations", "n_therapists", "n_clients", "n_sessions")
    )
    therapists_per_org = allocate(
        rng,
        n_t,
        n_o,
        concentration=a["therapists_per_organisation_concentration"],
        what="therapists",
    )
    clients_per_therapist = allocate(
        rng, n_c, n_t, concentration=a["clients_per_therapist_concentration"], what="clients"
    )
    sessions_per_client = allocate(
        rng,
        n_s,
        n_c,
        minimum=int(s["min_sessions_per_client"]),
        maximum=int(s["max_sessions_per_client"]),
        concentration=a["sessions_per_client_concentration"],
        what="sessions",
    )
    first_row = np.concatenate([[0], np.cumsum(sessions_per_client)[:-1]])
    client = np.repeat(np.arange(n_c), sessions_per_client)
    therapist_org = np.repeat(np.arange(n_o), therapists_per_org)
    client_therapist = np.repeat(np.arange(n_t), clients_per_therapist)
    return {
        "n": (n_o, n_t, n_c, n_s),
        "therapist_org": therapist_org,
        "client_therapist": client_therapist,
        "client": client,
        "therapist": client_therapist[client],
        "sessions_per_client": sessions_per_client,
        "first_row": first_row,
        "session_number": np.arange(n_s) - first_row[client] + 1,
    }


def _action_recommendations(rng, p, st, n_units):
    """True ARs (zero-inflated 1 + Binomial) and detected ones (TP + FP, capped at max_per_session)."""
    ar, det = p["action_recommendations"], p["detection"]
    n_t, n_s = st["n"][1], st["n"][3]
    cap = int(ar["max_per_session"])
    recall, precision = det["ar_recall"], det["ar_precision"]
    rho = ar["false_positive_ratio_without_ar"]
    p_base = (ar["true_mean_if_any"] - 1) / (cap - 1) if cap > 1 else 0.5
    p_therapist = expit(logit(p_base) + rng.normal(0.0, ar["sd_therapist"], n_t))
    p_more = p_therapist[st["therapist"]]

    def fp_rate(zero_share, mean_if_any):
        true_positives = recall * (1 - zero_share) * mean_if_any.sum()
        slots = ((1 - zero_share) * (cap - recall * mean_if_any) + zero_share * rho * cap).sum()
        return true_positives * (1 - precision) / precision / slots

    rows = calibration_rows(n_s)
    mean_if_any = 1 + (cap - 1) * p_more[rows]
    miss_any = (1 - recall) * (p_more[rows] * (1 - recall) + 1 - p_more[rows]) ** (cap - 1)

    def detected_any(zero_share):
        q = min(fp_rate(zero_share, mean_if_any), 1.0)
        none = zero_share * (1 - q * rho) ** cap + (1 - zero_share) * (1 - q) ** cap * miss_any
        return 1 - float(none.mean())

    zero_share = solve_monotone(
        lambda z: detected_any(z) - ar["detected_any_share"],
        0.0,
        1.0 - 1e-9,
        "action_recommendations.detected_any_share",
    )
    ar_true = np.where(rng.random(n_s) < zero_share, 0, 1 + rng.binomial(cap - 1, p_more))
    true_positives = rng.binomial(ar_true, recall)
    weight = np.where(ar_true > 0, 1.0, rho)
    q = (
        recall
        * ar_true.sum()
        * (1 - precision)
        / precision
        / ((cap - recall * ar_true) * weight).sum()
    )
    require(
        q * weight.max() <= 1,
        "action-recommendation precision too low to reach within max_per_session",
    )
    false_positives = rng.binomial(cap - true_positives, q * weight)
    info = {
        "true_zero_share": zero_share,
        "p_additional_per_slot": p_base,
        "false_positive_rate_per_free_slot": q,
    }
    return ar_true, true_positives, false_positives, info


def _reviews(rng, p, st, n_units):
    """True review units (never in a client's first session) and detected ones (TP + FP)."""
    rv, det = p["reviews"], p["detection"]
    n_t, n_c, n_s = st["n"][1], st["n"][2], st["n"][3]
    recall, precision = det["review_recall"], det["review_precision"]
    propensity = (
        rng.normal(0.0, rv["sd_therapist"], n_t)[st["client_therapist"]]
        + rng.normal(0.0, rv["sd_client"], n_c)
    )[st["client"]]
    share = expit(
        logit(rv["share_if_any_median"])
        + rng.normal(0.0, rv["share_sd_client"], n_c)[st["client"]]
        + rng.normal(0.0, rv["share_sd_session"], n_s)
    )
    later = st["session_number"] > 1
    fp_weight_without = np.where(
        later,
        rv["false_positive_ratio_later_without_review"],
        rv["false_positive_ratio_first_session"],
    )

    rows = calibration_rows(n_s)
    n, pi, w, z, lat = (
        n_units[rows],
        share[rows],
        fp_weight_without[rows],
        propensity[rows],
        later[rows],
    )
    units_if_any = 1 + (n - 1) * pi

    def detected_any(intercept):
        p_any = expit(intercept + z) * lat
        true_positives = recall * (p_any * units_if_any).sum()
        slots = (p_any * (n - units_if_any) + (1 - p_any) * w * n).sum()
        q = min(true_positives * (1 - precision) / precision / slots, 1.0)
        miss = (1 - recall) * ((1 - recall) * pi + (1 - q) * (1 - pi)) ** (n - 1)
        return float((p_any * (1 - miss) + (1 - p_any) * (1 - (1 - q * w) ** n)).mean())

    intercept = solve_monotone(
        lambda b: detected_any(b) - rv["detected_any_share"],
        -40.0,
        40.0,
        "reviews.detected_any_share",
    )
    any_review = later & (rng.random(n_s) < expit(intercept + propensity))
    units_true = np.where(any_review, 1 + rng.binomial(n_units - 1, share), 0)
    true_positives = rng.binomial(units_true, recall)
    weight = np.where(any_review, 1.0, fp_weight_without)
    slots = ((n_units - units_true) * weight).sum()
    q = recall * units_true.sum() * (1 - precision) / precision / slots if slots > 0 else 0.0
    require(
        q * weight.max() <= 1, "review precision too low to reach with these false-positive ratios"
    )
    false_positives = rng.binomial(n_units - units_true, q * weight)
    info = {
        "any_review_intercept": intercept,
        "true_any_share": float(any_review.mean()),
        "true_any_share_later_sessions": float(any_review[later].mean()) if later.any() else 0.0,
        "false_positive_rate_per_unit_in_review_sessions": q,
    }
    return units_true, true_positives, false_positives, info


def _assessment_schedule(rng, p, sessions_per_client):
    """(clients x slots) session numbers of assessments: 1, then every gap_min..gap_max sessions,
    and the client's last session; 0 pads unused slots."""
    a = p["assessments"]
    n_c = len(sessions_per_client)
    n_gaps = max(1, math.ceil((int(p["sizes"]["max_sessions_per_client"]) - 1) / a["gap_min"]))
    positions = 1 + np.cumsum(
        rng.integers(a["gap_min"], a["gap_max"] + 1, size=(n_c, n_gaps)), axis=1
    )
    valid = positions < sessions_per_client[:, None]
    schedule = np.zeros((n_c, n_gaps + 2), dtype=np.int64)
    schedule[:, 0] = 1
    schedule[:, 1 : n_gaps + 1] = np.where(valid, positions, 0)
    has_last = sessions_per_client > 1
    schedule[np.flatnonzero(has_last), 1 + valid.sum(axis=1)[has_last]] = sessions_per_client[
        has_last
    ]
    return schedule


def _baselines(rng, p, n_c):
    """Intake PHQ-9 and GAD-7: correlated normals, rounded and clipped to each scale."""
    a = p["assessments"]
    z_phq = rng.standard_normal(n_c)
    z_gad = a["baseline_correlation"] * z_phq + math.sqrt(
        1 - a["baseline_correlation"] ** 2
    ) * rng.standard_normal(n_c)
    phq = np.clip(np.rint(a["phq9_baseline_mean"] + a["phq9_baseline_sd"] * z_phq), 0, 27)
    gad = np.clip(np.rint(a["gad7_baseline_mean"] + a["gad7_baseline_sd"] * z_gad), 0, 21)
    return {"phq9": phq.astype(np.int64), "gad7": gad.astype(np.int64)}


def _truth_bands(scale, c, starts):
    """Implied true slope of review percentage per severity band (at the midpoint, and averaged
    over the realised interval starts in the band); PHQ-9's top two bands are also pooled."""
    top, bands = SCALES[scale]
    names, lows = list(bands), list(bands.values())
    highs = lows[1:] + [top + 1]
    groups = {name: (lo, hi - 1) for name, lo, hi in zip(names, lows, highs)}
    if scale == "phq9":
        groups["moderately severe or severe"] = (bands["moderately severe"], top)
    out = {}
    for name, (lo, hi) in groups.items():
        in_band = (starts >= lo) & (starts <= hi)
        slope = lambda x: c["review_slope"] + c["interaction"] * (x - c["centre"])  # noqa: E731
        out[name] = {
            "range": [lo, hi],
            "at_midpoint": slope((lo + hi) / 2),
            "mean_over_intervals": slope(float(starts[in_band].mean())) if in_band.any() else None,
            "n_intervals": int(in_band.sum()),
        }
    return out


def _outcomes(rng, p, st, schedule, review_pct_true):
    """Scores at every scheduled assessment, interval by interval; returns scores and truth."""
    n_o, n_t, n_c, _ = st["n"]
    baselines = _baselines(rng, p, n_c)
    cumulative = np.concatenate([[0.0], np.cumsum(review_pct_true)])
    scores, truth = {}, {}
    for scale, (top, _) in SCALES.items():
        c = p[f"{scale}_change"]
        group_effect = (
            rng.normal(0.0, c["sd_organisation"], n_o)[st["therapist_org"]][st["client_therapist"]]
            + rng.normal(0.0, c["sd_therapist"], n_t)[st["client_therapist"]]
            + rng.normal(0.0, c["sd_client"], n_c)
        )
        score = np.zeros(schedule.shape, dtype=np.int64)
        score[:, 0] = baselines[scale]
        starts, review_means, clipped = [], [], 0
        for j in range(schedule.shape[1] - 1):
            rows = np.flatnonzero(schedule[:, j + 1] > 0)
            begin, end = schedule[rows, j], schedule[rows, j + 1]
            first = st["first_row"][rows]
            # Sessions begin..end-1: the end assessment is taken before its session's content.
            review = (cumulative[first + end - 1] - cumulative[first + begin - 1]) / (end - begin)
            start = score[rows, j]
            centred = score[rows, 0] - c["centre"]  # initial (intake) severity
            change = (
                c["intercept"]
                + c["review_slope"] * review
                + c["interaction"] * review * centred
                + c["baseline_slope"] * centred
                + group_effect[rows]
                + rng.normal(0.0, c["sd_residual"], len(rows))
            )
            latent = np.rint(start + change)
            clipped += int(((latent < 0) | (latent > top)).sum())
            score[rows, j + 1] = np.clip(latent, 0, top)
            starts.append(start)
            review_means.append(review)
        starts, review_means = np.concatenate(starts), np.concatenate(review_means)
        scores[scale] = score
        truth[scale] = {
            "coefficients": {
                "Intercept": c["intercept"],
                "review_percentage": c["review_slope"],
                "baseline_centred": c["baseline_slope"],
                "review_percentage:baseline_centred": c["interaction"],
                "sd(client_id)": c["sd_client"],
                "sd(therapist_id)": c["sd_therapist"],
                "sd(organisation_id)": c["sd_organisation"],
                "sigma": c["sd_residual"],
            },
            "sigma_with_rounding": math.sqrt(c["sd_residual"] ** 2 + 1 / 12),
            "centre": c["centre"],
            "review_slope_by_band": _truth_bands(scale, c, starts),
            "n_intervals": int(len(starts)),
            "clipped_share": clipped / len(starts) if len(starts) else 0.0,
            "interval_review_percentage_mean": float(review_means.mean()) if len(starts) else None,
            "interval_review_percentage_sd": float(review_means.std()) if len(starts) else None,
        }
    return scores, truth


def simulate_study2(
    params: dict | None = None, seed: int = 0
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Simulate Study 2's therapists, clients, sessions and assessments; return (tables, truth)."""
    p = resolve_params(STUDY2_DEFAULTS, params, "study2")
    _check(p)
    rng = np.random.default_rng(seed)
    st = _session_structure(rng, p)
    n_o, n_t, n_c, n_s = st["n"]

    d = p["dialogue"]
    n_units = np.clip(
        np.rint(d["n_units_median"] * np.exp(rng.normal(0.0, d["n_units_log_sd"], n_s))),
        d["n_units_min"],
        d["n_units_max"],
    ).astype(np.int64)
    ar_true, ar_tp, ar_fp, ar_info = _action_recommendations(rng, p, st, n_units)
    rv_true, rv_tp, rv_fp, rv_info = _reviews(rng, p, st, n_units)
    review_units = rv_tp + rv_fp
    review_pct_true = 100.0 * rv_true / n_units

    schedule = _assessment_schedule(rng, p, st["sessions_per_client"])
    scores, outcome_truth = _outcomes(rng, p, st, schedule, review_pct_true)

    org_ids = make_ids("O", n_o, 2)
    therapist_ids = make_ids("T", n_t, 3)
    client_ids = make_ids("C", n_c, 4)
    assessed_client, slot = np.nonzero(schedule > 0)
    tables = {
        "therapists": pd.DataFrame(
            {"therapist_id": therapist_ids, "organisation_id": org_ids.take(st["therapist_org"])}
        ),
        "clients": pd.DataFrame(
            {"client_id": client_ids, "therapist_id": therapist_ids.take(st["client_therapist"])}
        ),
        "sessions": pd.DataFrame(
            {
                "session_id": make_ids("S", n_s, 5),
                "client_id": client_ids.take(st["client"]),
                "session_number": st["session_number"].astype(np.int64),
                "n_units": n_units,
                "ar_count": (ar_tp + ar_fp).astype(np.int64),
                "review_units": review_units.astype(np.int64),
                "review_percentage": 100.0 * review_units / n_units,
                "ar_true": ar_true.astype(np.int64),
                "review_units_true": rv_true.astype(np.int64),
                "review_percentage_true": review_pct_true,
            }
        ),
        "assessments": pd.DataFrame(
            {
                "client_id": client_ids.take(assessed_client),
                "session_number": schedule[assessed_client, slot],
                "phq9": scores["phq9"][assessed_client, slot],
                "gad7": scores["gad7"][assessed_client, slot],
            }
        ),
    }

    def realised(tp, fp, true):
        detected = tp.sum() + fp.sum()
        return {
            "precision": float(tp.sum() / detected) if detected else None,
            "recall": float(tp.sum() / true.sum()) if true.sum() else None,
        }

    det = p["detection"]
    truth = {
        "study": "study2",
        "seed": seed,
        "params": p,
        "sizes": {"n_organisations": n_o, "n_therapists": n_t, "n_clients": n_c, "n_sessions": n_s},
        "phq9": outcome_truth["phq9"],
        "gad7": outcome_truth["gad7"],
        "definitions": {
            "interval": "from one assessment of a client to the next (assessments at the start of a session)",
            "review_percentage": (
                "mean of review_percentage_true over the interval's sessions: from the starting "
                "assessment's session up to, not including, the next assessment's session"
            ),
            "baseline_centred": "intake score (the client's first assessment) minus centre",
            "change": "score at the next assessment minus score at the starting assessment",
        },
        "detection": {
            "ar": {
                "precision": det["ar_precision"],
                "recall": det["ar_recall"],
                "realised": realised(ar_tp, ar_fp, ar_true),
                **ar_info,
            },
            "review": {
                "precision": det["review_precision"],
                "recall": det["review_recall"],
                "realised": realised(rv_tp, rv_fp, rv_true),
                **rv_info,
            },
        },
        "realised": {
            "ar_true_any_share": float((ar_true > 0).mean()),
            "ar_detected_any_share": float(((ar_tp + ar_fp) > 0).mean()),
            "ar_true_mean": float(ar_true.mean()),
            "ar_detected_mean": float((ar_tp + ar_fp).mean()),
            "review_detected_any_share": float((review_units > 0).mean()),
            "review_percentage_true_mean": float(review_pct_true.mean()),
            "review_percentage_detected_mean": float((100.0 * review_units / n_units).mean()),
        },
    }
    return tables, jsonable(truth)
