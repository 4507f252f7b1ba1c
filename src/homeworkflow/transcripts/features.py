"""Per-session Study 2 features from an utterance table and two detectors.

- `n_units`: utterances in the session (all speakers); one utterance is one dialogue unit.
- `ar_count`: action recommendations, counted as runs of AR-positive therapist utterances that
  follow each other in the therapist's turns (client turns in between do not break a run), so a
  recommendation spread over "You could try walking." / "Mm-hmm." / "Say, twenty minutes after
  dinner." counts once. Two recommendations in successive therapist turns also count once.
- `review_units`: review-positive therapist utterances.
- `review_percentage`: 100 * review_units / n_units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from homeworkflow.transcripts.utterances import in_dialogue_order, is_therapist

FEATURE_COLUMNS = ("session_id", "n_units", "ar_count", "review_units", "review_percentage")


def derive_session_features(utterances: pd.DataFrame, ar_detector, review_detector) -> pd.DataFrame:
    """One row per session (sorted by session_id) with `FEATURE_COLUMNS`."""
    order = in_dialogue_order(utterances)
    rows = utterances.iloc[order].reset_index(drop=True)
    therapist = is_therapist(rows)
    ar = ar_detector.predict(rows) & therapist
    review = review_detector.predict(rows) & therapist
    session = rows["session_id"].astype(str).to_numpy()

    # AR runs along each session's therapist turns: a positive turn whose previous therapist
    # turn in the same session was not positive starts a run.
    t_session, t_ar = session[therapist], ar[therapist]
    new_session = np.concatenate([[True], t_session[1:] != t_session[:-1]])
    previous_ar = np.concatenate([[False], t_ar[:-1]]) & ~new_session
    run_start = pd.Series(t_ar & ~previous_ar).groupby(t_session).sum()

    features = pd.DataFrame({"session_id": session, "review": review}).groupby("session_id", sort=True)
    out = features.agg(n_units=("review", "size"), review_units=("review", "sum")).reset_index()
    out["ar_count"] = out["session_id"].map(run_start).fillna(0).astype("int64")
    out["review_units"] = out["review_units"].astype("int64")
    out["review_percentage"] = 100.0 * out["review_units"] / out["n_units"]
    return out[list(FEATURE_COLUMNS)]
