"""The utterance table: one row per utterance of a transcribed session.

Columns: `session_id` (text), `utterance_order` (integer order within the session), `speaker`
("therapist" or "client"), `text`; optional human labels `is_action_recommendation` and
`is_review` (1 = yes, 0 = no, blank = not labelled). Only therapist utterances can be positive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from homeworkflow.data.validate import InputError, Problem

REQUIRED_COLUMNS = ("session_id", "utterance_order", "speaker", "text")
SPEAKERS = ("therapist", "client")
LABEL_COLUMNS = {"action_recommendation": "is_action_recommendation", "review": "is_review"}


class TranscriptInputError(InputError):
    """An utterance table that breaks the contract; the message names file, column, rows, reason."""


def validate_utterances(utterances: pd.DataFrame, path: str) -> pd.DataFrame:
    """Check an utterance table read from `path`; return it typed, in file order.

    Speaker values are compared after trimming and lower-casing. Rows in messages are 1-based data
    rows (the header is not counted). Raises `TranscriptInputError` listing every problem found.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in utterances.columns]
    if missing:
        raise TranscriptInputError([Problem(path, "required column is missing", (c,)) for c in missing])
    df = utterances.reset_index(drop=True).copy()
    problems = []

    def check(bad: pd.Series, columns: tuple[str, ...], reason: str) -> None:
        if bad.any():
            problems.append(Problem(path, reason, columns, np.flatnonzero(bad.to_numpy()) + 1))

    order = pd.to_numeric(df["utterance_order"], errors="coerce")
    check(order.isna() | (order != order.round()), ("utterance_order",), "must be a whole number")
    df["session_id"] = df["session_id"].astype("string").str.strip()
    check(df["session_id"].isna() | (df["session_id"] == ""), ("session_id",), "must not be empty")
    speaker = df["speaker"].astype("string").str.strip().str.lower()
    check(~speaker.isin(SPEAKERS).fillna(False), ("speaker",), f"must be one of {', '.join(SPEAKERS)}")
    key = ["session_id", "utterance_order"]
    check(
        pd.DataFrame({"session_id": df["session_id"], "utterance_order": order}).duplicated(key, keep=False),
        tuple(key),
        "the same (session_id, utterance_order) appears more than once",
    )
    text = df["text"].astype("string")
    check(
        (speaker == "therapist").fillna(False) & (text.isna() | (text.str.strip() == "")).fillna(True),
        ("text",),
        "therapist utterance has no text",
    )
    for column in LABEL_COLUMNS.values():
        if column in df.columns:
            value = pd.to_numeric(df[column], errors="coerce")
            given = df[column].notna() & (df[column].astype("string").str.strip() != "")
            check(given & ~value.isin((0, 1)), (column,), "label must be 0 or 1 (blank = not labelled)")
            check((value == 1) & (speaker == "client").fillna(False), (column,), "only therapist utterances can be 1")
            df[column] = value.astype("Int8")
    if problems:
        raise TranscriptInputError(problems)
    df["utterance_order"] = order.astype("int64")
    df["speaker"] = speaker.astype(str)
    df["text"] = text.fillna("").astype(str)
    df["session_id"] = df["session_id"].astype(str)
    return df


def in_dialogue_order(utterances: pd.DataFrame) -> np.ndarray:
    """Row positions that put the table in (session_id, utterance_order) order."""
    return np.lexsort((utterances["utterance_order"].to_numpy(), utterances["session_id"].astype(str).to_numpy()))


def previous_text(utterances: pd.DataFrame) -> np.ndarray:
    """Text of the utterance before each row in its session ("" for a session's first), in row order."""
    order = in_dialogue_order(utterances)
    text = utterances["text"].astype(str).to_numpy()[order]
    session = utterances["session_id"].astype(str).to_numpy()[order]
    shifted = np.concatenate([[""], text[:-1]]).astype(object)
    shifted[np.concatenate([[True], session[1:] != session[:-1]])] = ""
    out = np.empty(len(order), dtype=object)
    out[order] = shifted
    return out


def is_therapist(utterances: pd.DataFrame) -> np.ndarray:
    """Boolean mask of therapist rows."""
    return (utterances["speaker"].astype(str).str.lower() == "therapist").to_numpy()
