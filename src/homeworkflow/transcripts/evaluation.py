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
        [
            np.bincount(codes, weights=w, minlength=n_groups)
            for w in (y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred)
        ]
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
    annomi: pd.DataFrame,
    review_labels: pd.DataFrame,
    seed: int = 0,
    test_share: float = 0.3,
    min_precision: float = 0.76,
    n_boot: int = 1000,
) -> tuple[dict[str, dict[str, Detector]], pd.DataFrame]:
    """Train and evaluate AR and review detectors on AnnoMI; return (detectors, evaluation table).

    AR: transcripts are split (stratified by MI quality) into training and held-out sets; trained
    detectors learn on the training transcripts only, and every detector is scored on the
    held-out ones. `tfidf_logreg` uses the best-F1 threshold; `tfidf_logreg_precision_target` the
    threshold that reaches `min_precision` on the training folds (Spinrad et al. report 0.76).
    `single_annotator` scores each AnnoMI annotator against the majority of the others on the
    seven multiply annotated transcripts: the ceiling that label noise sets. Review: scored on our
    labelled utterances, the trained detector by 5-fold cross-validation over transcripts.

    Returns `detectors[target][name]` ("rules", "tfidf_logreg"; trained ones refitted on all
    labelled data) and one table row per detector and target.
    """
    utterances = annomi_utterances(annomi, review_labels)
    rows = _evaluate_ar(utterances, annomi, seed, test_share, min_precision, n_boot)
    rows += _evaluate_review(utterances, seed, n_boot)
    review = utterances[LABEL_COLUMNS["review"]].to_numpy(dtype=float)
    detectors = {
        "action_recommendation": {
            "rules": RuleBasedDetector("action_recommendation"),
            "tfidf_logreg": TrainedDetector("action_recommendation").fit(
                utterances, utterances[LABEL_COLUMNS["action_recommendation"]]
            ),
        },
        "review": {
            "rules": RuleBasedDetector("review"),
            "tfidf_logreg": TrainedDetector("review").fit(utterances, review),
        },
    }
    return detectors, pd.DataFrame(rows)


def _row(detector, target, data, y_true, y_pred, groups, n_boot, seed) -> dict:
    scores = evaluate_detector(y_true, y_pred, groups, n_boot=n_boot, seed=seed)
    return {"detector": detector, "target": target, "evaluated_on": data} | scores


def _evaluate_ar(utterances, annomi, seed, test_share, min_precision, n_boot) -> list[dict]:
    target = "action_recommendation"
    label = utterances[LABEL_COLUMNS[target]].to_numpy() == 1
    groups = utterances["session_id"].to_numpy()
    quality = utterances.groupby("session_id", sort=True)["mi_quality"].first()
    train_ids, test_ids = train_test_split(
        quality.index.to_numpy(), test_size=test_share, stratify=quality.to_numpy(), random_state=seed
    )
    train = np.isin(groups, train_ids)
    held_out = is_therapist(utterances) & ~train
    training = utterances[train].reset_index(drop=True)
    detectors = {
        "rules": RuleBasedDetector(target),
        "tfidf_logreg": TrainedDetector(target).fit(training, label[train]),
        "tfidf_logreg_precision_target": TrainedDetector(target, min_precision=min_precision).fit(
            training, label[train]
        ),
    }
    data = f"AnnoMI held-out transcripts ({len(test_ids)})"
    rows = [
        _row(name, target, data, label[held_out], d.predict(utterances)[held_out], groups[held_out], n_boot, seed)
        for name, d in detectors.items()
    ]
    agreement = annotator_agreement(annomi)
    data = "AnnoMI multiply annotated transcripts (each annotator vs the others' majority)"
    rows.append(
        _row(
            "single_annotator",
            target,
            data,
            agreement["y_true"],
            agreement["y_pred"],
            agreement["transcript_id"],
            n_boot,
            seed,
        )
    )
    return rows


def _evaluate_review(utterances, seed, n_boot) -> list[dict]:
    target = "review"
    review = utterances[LABEL_COLUMNS[target]].to_numpy(dtype=float)
    groups = utterances["session_id"].to_numpy()
    labelled = is_therapist(utterances) & ~np.isnan(review)
    out_of_fold = np.zeros(len(utterances), dtype=bool)
    positions = np.flatnonzero(labelled)
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
    for _, test in folds.split(positions, review[labelled], groups[labelled]):
        fold = np.isin(groups, groups[positions[test]])
        detector = TrainedDetector(target).fit(utterances, np.where(fold, np.nan, review))
        out_of_fold[fold] = detector.predict(utterances.loc[fold])
    data = f"labelled AnnoMI therapist utterances ({int(labelled.sum())})"
    y_true, g = review[labelled] == 1, groups[labelled]
    return [
        _row("rules", target, data, y_true, RuleBasedDetector(target).predict(utterances)[labelled], g, n_boot, seed),
        _row(
            "tfidf_logreg", target, data + ", 5-fold CV by transcript", y_true, out_of_fold[labelled], g, n_boot, seed
        ),
    ]
