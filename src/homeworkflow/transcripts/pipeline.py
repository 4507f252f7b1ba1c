"""The workflow's transcript step: detectors trained and evaluated on the labelled sessions of an
utterance table (or on AnnoMI when it has none), applied to every session, and the resulting
features put in place of the session table's own.

Evaluation is on held-out labelled sessions: their unit-level human and detected labels form the
validation table that carries the review detector's precision and recall into the Study 2
measurement-error model.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from homeworkflow.transcripts.annomi import annomi_utterances, load_annomi, load_review_labels
from homeworkflow.transcripts.detectors import (
    Detector,
    HumanLabelDetector,
    RuleBasedDetector,
    TrainedDetector,
)
from homeworkflow.transcripts.evaluation import evaluate_detector
from homeworkflow.transcripts.features import FEATURE_COLUMNS, derive_session_features
from homeworkflow.transcripts.utterances import LABEL_COLUMNS, is_therapist

def _encoder(target: str, threads: int = 1) -> Detector:
    from homeworkflow.transcripts.encoder import EncoderDetector  # torch is imported only when chosen

    return EncoderDetector(target, threads=threads)


DETECTORS = {"trained": TrainedDetector, "encoder": _encoder, "rules": RuleBasedDetector, "human": HumanLabelDetector}
TRAINED = ("trained", "encoder")


def labelled_sessions(utterances: pd.DataFrame, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves (training, evaluation) of at most `n` sessions whose utterances carry
    both human labels, drawn at random: the human-coded validation sample of a study."""
    labels = utterances[list(LABEL_COLUMNS.values())] if set(LABEL_COLUMNS.values()) <= set(utterances) else None
    if labels is None:
        return np.array([], dtype=str), np.array([], dtype=str)
    complete = labels.notna().all(axis=1).groupby(utterances["session_id"].astype(str)).all()
    candidates = np.sort(complete.index[complete].to_numpy(dtype=str))
    chosen = np.random.default_rng(seed).permutation(candidates)[:n]
    half = len(chosen) // 2
    return np.sort(chosen[:half]), np.sort(chosen[half:])


def fit_detectors(
    utterances: pd.DataFrame, kind: str, n_labelled: int, seed: int, threads: int = 1
) -> tuple[dict[str, Detector], pd.DataFrame, pd.DataFrame]:
    """Detectors for both targets, their evaluation table, and the review detector's unit-level
    validation table (columns human, detected) on held-out labelled sessions.

    Trained detectors ("trained": TF-IDF, "encoder": fine-tuned MiniLM) learn from the training
    half of the labelled sessions, or from AnnoMI (with our review labels) when the table has no
    labelled sessions; then nothing is held out from the table itself and the validation table is
    empty. `threads`: the encoder's torch threads (the other detectors use one).
    """
    if kind not in DETECTORS:
        raise ValueError(f"transcripts.detector must be one of {sorted(DETECTORS)}, got {kind!r}")
    train_ids, eval_ids = labelled_sessions(utterances, n_labelled, seed)
    if kind in TRAINED and len(train_ids) == 0:
        training = annomi_utterances(load_annomi(), load_review_labels())
    else:
        training = utterances[utterances["session_id"].astype(str).isin(train_ids)]
    make = functools.partial(DETECTORS[kind], threads=threads) if kind == "encoder" else DETECTORS[kind]
    detectors = {}
    for target, label in LABEL_COLUMNS.items():
        detector = make(target)
        if kind in TRAINED:
            detector.fit(training, training[label].to_numpy(dtype=float))
        detectors[target] = detector

    held_out = utterances[utterances["session_id"].astype(str).isin(eval_ids)]
    therapist = is_therapist(held_out)
    rows, validation = [], pd.DataFrame({"human": [], "detected": []}, dtype="int64")
    if therapist.any():
        for target, label in LABEL_COLUMNS.items():
            human = held_out[label].to_numpy(dtype=float)[therapist] == 1
            # Whole sessions go in, so that each utterance is read with the turns before it.
            detected = detectors[target].predict(held_out)[therapist]
            groups = held_out["session_id"].to_numpy()[therapist]
            scores = evaluate_detector(human, detected, groups, seed=seed)
            rows.append({"detector": kind, "target": target, "evaluated_on": "held-out labelled sessions"} | scores)
            if target == "review":
                validation = pd.DataFrame({"human": human.astype("int64"), "detected": detected.astype("int64")})
    return detectors, pd.DataFrame(rows), validation


def sessions_with_features(sessions: pd.DataFrame, features: pd.DataFrame, source: str) -> pd.DataFrame:
    """The session table with n_units, ar_count, review_units and review_percentage replaced by
    the transcript-derived features; every session needs a transcript."""
    ids = sessions["session_id"].astype(str)
    missing = ~ids.isin(features["session_id"].astype(str))
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy()) + 1
        shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        raise ValueError(
            f"{source}: column 'session_id': data rows {shown} ({len(rows)} rows in total): "
            "no transcript in the utterance table for these sessions"
        )
    derived = features.set_index(features["session_id"].astype(str))
    out = sessions.copy()
    for column in FEATURE_COLUMNS[1:]:
        out[column] = ids.map(derived[column]).to_numpy()
    return out


def feature_error(sessions: pd.DataFrame) -> pd.DataFrame:
    """Error of the derived features against the simulated truth, where the session table has it."""
    pairs = {
        "ar_count": "ar_true",
        "review_units": "review_units_true",
        "review_percentage": "review_percentage_true",
    }
    rows = []
    for derived, true in pairs.items():
        if true not in sessions:
            continue
        error = sessions[derived].astype(float) - sessions[true].astype(float)
        rows.append(
            {
                "feature": derived,
                "mean_true": sessions[true].mean(),
                "mean_derived": sessions[derived].mean(),
                "mean_error": error.mean(),
                "mean_absolute_error": error.abs().mean(),
                "correlation": np.corrcoef(sessions[derived], sessions[true])[0, 1],
            }
        )
    return pd.DataFrame(rows)


def derive_features(utterances: pd.DataFrame, detectors: dict[str, Detector]) -> pd.DataFrame:
    return derive_session_features(utterances, detectors["action_recommendation"], detectors["review"])
