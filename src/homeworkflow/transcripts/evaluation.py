"""Detector accuracy with transcript-level (cluster) bootstrap intervals, and the AnnoMI benchmark."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from homeworkflow.transcripts.annomi import annomi_utterances, annotator_agreement
from homeworkflow.transcripts.detectors import Detector, RuleBasedDetector, TrainedDetector
from homeworkflow.transcripts.utterances import LABEL_COLUMNS, is_therapist

METRICS = ("precision", "recall", "f1")


def evaluate_detector(y_true, y_pred, groups, n_boot: int = 1000, seed: int = 0) -> dict:
    """Precision, recall and F1 with 95% percentile intervals from resampling whole groups.

    Groups (transcripts) are drawn with replacement, so utterances of one transcript stay
    together. Returns the point estimates, `<metric>_low` / `<metric>_high`, `n_positive` (true
    positives in the data), `n_evaluated` and `n_groups`. A metric that is undefined (no predicted
    or no true positives) is NaN.
    """
    y_true, y_pred = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    codes, groups = pd.factorize(pd.Series(np.asarray(groups)).astype(str))
    n_groups = len(groups)
    counts = np.stack(
        [np.bincount(codes, weights=w, minlength=n_groups) for w in (y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred)]
    )  # (tp, fp, fn) x groups
    draws = np.random.default_rng(seed).multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_boot)
    point = _metrics(*counts.sum(axis=1))
    boot = _metrics(*(draws @ counts.T).T)
    out = {}
    for name in METRICS:
        low, high = np.nanpercentile(boot[name], [2.5, 97.5]) if np.isfinite(boot[name]).any() else (np.nan, np.nan)
        out |= {name: float(point[name]), f"{name}_low": float(low), f"{name}_high": float(high)}
    return out | {"n_positive": int(y_true.sum()), "n_evaluated": len(y_true), "n_groups": n_groups}


def _metrics(tp, fp, fn) -> dict:
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return {"precision": precision, "recall": recall, "f1": f1}


def train_and_evaluate(
    annomi: pd.DataFrame, review_labels: pd.DataFrame, seed: int = 0, test_share: float = 0.3, n_boot: int = 1000
) -> tuple[dict[str, dict[str, Detector]], pd.DataFrame]:
    """Train and evaluate AR and review detectors on AnnoMI; return (detectors, evaluation table).

    AR: transcripts are split (stratified by MI quality) into training and held-out sets; the
    trained detector learns on the training transcripts only and both detectors are scored on
    the held-out ones. A `single_annotator` row scores each AnnoMI annotator against the majority
    of the others (the seven multiply annotated transcripts): the ceiling set by label noise.
    Review: scored on our labelled utterances, the trained detector by 5-fold cross-validation
    over transcripts. The returned trained detectors are refitted on all labelled data.
    `detectors[target][name]` with names "rules" and "tfidf_logreg".
    """
    utterances = annomi_utterances(annomi, review_labels)
    therapist = is_therapist(utterances)
    quality = utterances.groupby("session_id", sort=True)["mi_quality"].first()
    train_ids, test_ids = train_test_split(
        quality.index.to_numpy(), test_size=test_share, stratify=quality.to_numpy(), random_state=seed
    )
    train = utterances["session_id"].isin(train_ids).to_numpy()
    held_out = therapist & ~train

    def row(detector, target, data, y_true, y_pred, groups):
        return {"detector": detector, "target": target, "evaluated_on": data} | evaluate_detector(
            y_true, y_pred, groups, n_boot=n_boot, seed=seed
        )

    rows = []
    ar_label = utterances[LABEL_COLUMNS["action_recommendation"]].to_numpy()
    groups = utterances["session_id"].to_numpy()
    rules_ar = RuleBasedDetector("action_recommendation")
    trained_ar = TrainedDetector("action_recommendation").fit(
        utterances[train].reset_index(drop=True), ar_label[train]
    )
    held_out_data = f"AnnoMI held-out transcripts ({len(test_ids)})"
    for name, detector in (("rules", rules_ar), ("tfidf_logreg", trained_ar)):
        predicted = detector.predict(utterances)
        rows.append(row(name, "action_recommendation", held_out_data, ar_label[held_out] == 1,
                        predicted[held_out], groups[held_out]))
    agreement = annotator_agreement(annomi)
    rows.append(row("single_annotator", "action_recommendation", "AnnoMI multiply annotated transcripts",
                    agreement["y_true"], agreement["y_pred"], agreement["transcript_id"]))

    review = utterances["is_review"].to_numpy(dtype=float)
    labelled = therapist & ~np.isnan(review)
    review_data = f"labelled AnnoMI utterances ({int(labelled.sum())})"
    rules_review = RuleBasedDetector("review")
    rows.append(row("rules", "review", review_data, review[labelled] == 1,
                    rules_review.predict(utterances)[labelled], groups[labelled]))
    out_of_fold = np.zeros(len(utterances), dtype=bool)
    positions = np.flatnonzero(labelled)
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
    for _, test in folds.split(positions, review[labelled], groups[labelled]):
        fold = np.isin(groups, groups[positions[test]])
        detector = TrainedDetector("review").fit(utterances, np.where(fold, np.nan, review))
        out_of_fold[fold] = detector.predict(utterances.loc[fold])
    rows.append(row("tfidf_logreg", "review", review_data + ", 5-fold CV by transcript",
                    review[labelled] == 1, out_of_fold[labelled], groups[labelled]))

    detectors = {
        "action_recommendation": {
            "rules": rules_ar,
            "tfidf_logreg": TrainedDetector("action_recommendation").fit(utterances, ar_label),
        },
        "review": {"rules": rules_review, "tfidf_logreg": TrainedDetector("review").fit(utterances, review)},
    }
    return detectors, pd.DataFrame(rows)
