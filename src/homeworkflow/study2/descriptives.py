"""Descriptive replication: action recommendations and review per session, beside the published figures."""

from __future__ import annotations

import pandas as pd

# Published (Spinrad et al. 2024, overall sample), as text because some are ranges.
# "Typically 1-8 ARs per session" is set beside our minimum and maximum.
PUBLISHED = {
    "share_sessions_with_ar": "0.95",
    "mean_ar_per_session": "4-5",
    "min_ar": "1 (typical range 1-8)",
    "max_ar": "8 (typical range 1-8)",
    "share_sessions_with_review": "about 0.50",
}
AR_TOP_BIN = 8  # distribution of ARs per session: 0, 1, ..., 7 and 8+


def descriptive_replication(sessions: pd.DataFrame) -> pd.DataFrame:
    """Long table (scope, statistic, value, published): overall, then one scope per organisation_id.

    Shares are proportions (0-1); review percentages are on the table's 0-100 scale. The published
    column is filled on overall rows only, since the paper reports the whole sample.
    """
    scopes = [("overall", sessions)]
    scopes += [(str(org), group) for org, group in sessions.groupby("organisation_id", sort=True)]
    rows = [
        (scope, statistic, value)
        for scope, frame in scopes
        for statistic, value in session_statistics(frame).items()
    ]
    table = pd.DataFrame(rows, columns=["scope", "statistic", "value"])
    overall = table["scope"] == "overall"
    table["published"] = table["statistic"].map(PUBLISHED).where(overall)
    return table


def session_statistics(sessions: pd.DataFrame) -> dict[str, float]:
    """The replicated statistics for one set of sessions, in reporting order."""
    ar = sessions["ar_count"]
    review = sessions["review_percentage"]
    stats = {
        "n_sessions": float(len(sessions)),
        "share_sessions_with_ar": sessions["any_ar"].mean(),
        "mean_ar_per_session": ar.mean(),
        "sd_ar_per_session": ar.std(),
        "min_ar": float(ar.min()),
        "max_ar": float(ar.max()),
    }
    for k in range(AR_TOP_BIN):
        stats[f"share_ar_{k}"] = (ar == k).mean()
    stats[f"share_ar_{AR_TOP_BIN}plus"] = (ar >= AR_TOP_BIN).mean()
    stats |= {
        "share_sessions_with_review": sessions["any_review"].mean(),
        "review_percentage_mean": review.mean(),
        "review_percentage_q25": review.quantile(0.25),
        "review_percentage_median": review.median(),
        "review_percentage_q75": review.quantile(0.75),
        "review_percentage_share_positive": (review > 0).mean(),
    }
    return {name: float(value) for name, value in stats.items()}
