"""Synthetic transcripts with known AR and review labels, for the Study 2 simulator and checks.

Each session alternates therapist and client turns, the therapist first, so it has
ceil(n_units / 2) therapist turns. Its `review_units_true` review utterances fall on random
therapist turns in the first half of the session (reviews come early) and all refer to one
"homework" activity from the last session; the client's replies to them report on it. Its
`ar_true` recommendations sit on therapist turns that are never next to each other, so each is one
run and `derive_session_features` with the true labels returns `ar_true` exactly. Sentences come
from `phrasebook.py`; template and slot choices are drawn with numpy for all rows at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from homeworkflow.transcripts import phrasebook as pb

SESSION_COLUMNS = ("session_id", "n_units", "ar_true", "review_units_true")
_POOLS = (
    pb.THERAPIST_AR,
    pb.THERAPIST_REVIEW,
    pb.THERAPIST_OTHER,
    pb.CLIENT_AFTER_AR,
    pb.CLIENT_AFTER_REVIEW,
    pb.CLIENT_OTHER,
)
T_AR, T_REVIEW, T_OTHER, C_AFTER_AR, C_AFTER_REVIEW, C_OTHER = range(len(_POOLS))


def simulate_transcripts(sessions: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Utterance table (with true `is_action_recommendation`, `is_review`) for `sessions`.

    `sessions` has columns `SESSION_COLUMNS` (integers). Raises ValueError when a session has too
    few therapist turns: it needs ar_true + review_units_true <= ceil(n_units / 2) and ar_true <=
    ceil((therapist turns - review_units_true) / 2), as recommendations are never adjacent.
    """
    n_units, ar_true, review_true = _checked(sessions)
    rng = np.random.default_rng(seed)
    n_therapist = (n_units + 1) // 2
    starts = np.concatenate([[0], np.cumsum(n_units)[:-1]])
    session = np.repeat(np.arange(len(n_units)), n_units)
    position = np.arange(int(n_units.sum())) - starts[session]
    client = position % 2 == 1
    category = np.where(client, C_OTHER, T_OTHER).astype(np.int8)
    for start, n_t, n_ar, n_rv in zip(starts, n_therapist, ar_true, review_true):
        turns = start + 2 * np.arange(n_t)
        review = rng.choice(max(n_rv, (n_t + 1) // 2), size=n_rv, replace=False)  # first half of the session
        category[turns[review]] = T_REVIEW
        free = np.delete(turns, review)
        picks = np.sort(rng.choice(len(free) - n_ar + 1, size=n_ar, replace=False)) + np.arange(n_ar)
        category[free[picks]] = T_AR  # no two adjacent in the therapist's turns
    previous = np.concatenate([[T_OTHER], category[:-1]])
    category[client & (previous == T_AR)] = C_AFTER_AR
    category[client & (previous == T_REVIEW)] = C_AFTER_REVIEW

    homework = rng.integers(len(pb.ACTIVITIES), size=len(n_units))[session]
    activity = np.where(
        np.isin(category, (T_REVIEW, C_AFTER_REVIEW)), homework, rng.integers(len(pb.ACTIVITIES), size=len(category))
    )
    text = _render(rng, category, activity)
    text[client] = [t.replace("your ", "my ").replace("Your ", "My ") for t in text[client]]
    return pd.DataFrame(
        {
            "session_id": sessions["session_id"].astype(str).to_numpy()[session],
            "utterance_order": position + 1,
            "speaker": np.where(client, "client", "therapist"),
            "text": text,
            "is_action_recommendation": (category == T_AR).astype(int),
            "is_review": (category == T_REVIEW).astype(int),
        }
    )


def _checked(sessions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in SESSION_COLUMNS if c not in sessions.columns]
    if missing:
        raise ValueError(f"sessions table lacks column(s) {', '.join(missing)}")
    n_units, ar_true, review_true = (sessions[c].to_numpy(dtype=np.int64) for c in SESSION_COLUMNS[1:])
    n_therapist = (n_units + 1) // 2
    room = n_therapist - review_true
    bad = (n_units < 1) | (ar_true < 0) | (room < 0) | (review_true < 0) | (ar_true > (room + 1) // 2)
    if bad.any():
        ids = sessions["session_id"].astype(str).to_numpy()[bad]
        raise ValueError(
            f"{bad.sum()} session(s) have too few units for their true counts (each needs "
            "ar_true + review_units_true <= ceil(n_units/2) and non-adjacent ARs), e.g. " + ", ".join(ids[:5])
        )
    return n_units, ar_true, review_true


def _render(rng: np.random.Generator, category: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """Fill a template of each row's pool; slot values drawn per row."""
    n = len(category)
    template = np.empty(n, dtype=object)
    for code, pool in enumerate(_POOLS):
        rows = np.flatnonzero(category == code)
        weights = np.array([w for _, w in pool], dtype=float)
        texts = np.array([t for t, _ in pool], dtype=object)
        template[rows] = texts[rng.choice(len(pool), size=len(rows), p=weights / weights.sum())]
    act, ing, noun = (np.array(column, dtype=object)[activity] for column in zip(*pb.ACTIVITIES))
    slots = {
        "when": pb.WHEN,
        "past": pb.PAST,
        "feel": pb.FEEL,
        "topic": pb.TOPIC,
        "person": pb.PERSON,
    }
    drawn = {k: np.array(v, dtype=object)[rng.integers(len(v), size=n)] for k, v in slots.items()}
    return np.array(
        [
            t.format(
                act=a,
                ing=g,
                Ing=g[0].upper() + g[1:],
                noun=o,
                when=w,
                past=p,
                feel=f,
                topic=tp,
                person=ps,
                Person=ps[0].upper() + ps[1:],
            )
            for t, a, g, o, w, p, f, tp, ps in zip(
                template, act, ing, noun, drawn["when"], drawn["past"], drawn["feel"], drawn["topic"], drawn["person"]
            )
        ],
        dtype=object,
    )
