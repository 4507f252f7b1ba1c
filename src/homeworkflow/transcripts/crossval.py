"""Out-of-fold evaluation of the detectors on all of AnnoMI, beside the annotators' ceiling.

`out_of_fold(...)` trains each detector on 4 of 5 folds of transcripts (grouped, stratified by
whether a transcript has a positive) and scores the fifth, for several fold seeds; results are
appended per (seed, fold, detector) so an interrupted run resumes. `summarise(...)` turns the
predictions into per-utterance precision, recall, F1 (at each detector's own threshold), average
precision and precision at recall 0.5, with cluster-bootstrap intervals over transcripts, for all
utterances and separately for repeated and unique text. `ceiling_predictions(...)` gives the
annotators' rows computed the same way; `session_summary(...)` the per-session errors.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.model_selection import StratifiedGroupKFold

from homeworkflow.transcripts.annomi import annotator_votes
from homeworkflow.transcripts.detectors import Detector, HumanLabelDetector
from homeworkflow.transcripts.evaluation import evaluate_detector
from homeworkflow.transcripts.features import derive_session_features
from homeworkflow.transcripts.utterances import LABEL_COLUMNS, is_therapist

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("transcript_id", "utterance_id", "fold", "seed", "detector", "score", "predicted", "label")


def repeated_text(utterances: pd.DataFrame) -> np.ndarray:
    """True where the utterance's text (trimmed, lower-cased) occurs more than once in the table."""
    key = utterances["text"].astype(str).str.strip().str.lower()
    return key.duplicated(keep=False).to_numpy()


def fold_assignment(utterances: pd.DataFrame, labelled: np.ndarray, label: np.ndarray, n_folds: int, seed: int):
    """Fold number (0..n_folds-1) per session with labelled rows, stratified by whether it has a
    positive: a Series indexed by session_id."""
    sessions = utterances["session_id"].astype(str).to_numpy()
    has_positive = pd.Series(label[labelled] == 1).groupby(sessions[labelled]).any()
    folds = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
    out = pd.Series(-1, index=has_positive.index)
    ids = has_positive.index.to_numpy()
    for fold, (_, test) in enumerate(folds.split(ids, has_positive.to_numpy().astype(int), ids)):
        out.iloc[test] = fold
    return out


def out_of_fold(
    utterances: pd.DataFrame,
    target: str,
    detectors: dict[str, Callable[[int], Detector]],
    seeds=(0, 1, 2),
    n_folds: int = 5,
    path: str | Path | None = None,
    fit_times: list | None = None,
    stop_at: float | None = None,
) -> pd.DataFrame:
    """Out-of-fold predictions (`PREDICTION_COLUMNS`) on the labelled therapist rows.

    `detectors` maps a name to a factory `seed -> unfitted detector`. With `path`, rows already in
    the CSV are kept and their (seed, fold, detector) skipped, and each new block is written at
    once (atomically). `fit_times` collects (detector, seed, fold, seconds). `stop_at` (a
    `time.time()` value) stops before starting a fit after that moment.
    """
    label = utterances[LABEL_COLUMNS[target]].to_numpy(dtype=float)
    labelled = is_therapist(utterances) & ~np.isnan(label)
    sessions = utterances["session_id"].astype(str).to_numpy()
    done = read_predictions(path)
    for seed in seeds:
        folds = fold_assignment(utterances, labelled, label, n_folds, seed)
        fold_of_row = pd.Series(sessions).map(folds).fillna(-1).to_numpy(dtype=int)
        for fold in range(n_folds):
            test = labelled & (fold_of_row == fold)
            for name, make in detectors.items():
                if _is_done(done, seed, fold, name):
                    continue
                if stop_at is not None and time.time() > stop_at:
                    log.warning("time is up: stopping before seed %d fold %d %s", seed, fold, name)
                    return done
                started = time.perf_counter()
                detector = make(seed).fit(utterances, np.where(fold_of_row == fold, np.nan, label))
                seconds = time.perf_counter() - started
                # Whole test transcripts, so that every utterance has its real context.
                in_fold = fold_of_row == fold
                sessions_in_fold = utterances.loc[in_fold]
                keep = test[in_fold]
                rows = sessions_in_fold.loc[keep]
                block = pd.DataFrame(
                    {
                        "transcript_id": rows["session_id"].astype(str).to_numpy(),
                        "utterance_id": rows["utterance_order"].to_numpy(),
                        "fold": fold,
                        "seed": seed,
                        "detector": name,
                        "score": detector.score(sessions_in_fold)[keep],
                        "predicted": detector.predict(sessions_in_fold)[keep].astype(int),
                        "label": label[test].astype(int),
                    }
                )
                done = typed(pd.concat([done, block], ignore_index=True))
                if path is not None:
                    _write_atomic(done, path)
                if fit_times is not None:
                    fit_times.append({"detector": name, "seed": seed, "fold": fold, "fit_seconds": seconds})
                log.info("%s seed %d fold %d %s: fit %.0f s", target, seed, fold, name, seconds)
    return done


def read_predictions(path) -> pd.DataFrame:
    """Out-of-fold predictions from a CSV (empty if there is none), with their proper types."""
    if path is not None and Path(path).exists():
        return typed(pd.read_csv(path, dtype={"transcript_id": str}))
    return typed(pd.DataFrame({c: [] for c in PREDICTION_COLUMNS}))


def typed(predictions: pd.DataFrame) -> pd.DataFrame:
    """`PREDICTION_COLUMNS` typed: ids and 0/1 columns as integers, the score as a float."""
    out = predictions.copy()
    out["transcript_id"] = out["transcript_id"].astype(str)
    out["detector"] = out["detector"].astype(str)
    for column in ("utterance_id", "fold", "seed", "predicted", "label"):
        out[column] = out[column].astype("int64")
    out["score"] = out["score"].astype(float)
    return out


def _is_done(done: pd.DataFrame, seed: int, fold: int, name: str) -> bool:
    return bool(((done["seed"] == seed) & (done["fold"] == fold) & (done["detector"] == name)).any())


def _write_atomic(table: pd.DataFrame, path) -> None:
    tmp = Path(str(path) + ".tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


def ceiling_predictions(annomi: pd.DataFrame) -> pd.DataFrame:
    """The annotators' ceiling on the multiply annotated transcripts, one row per annotator and
    therapist utterance, in `PREDICTION_COLUMNS` (fold -1, seed -1):

    - `ceiling_vote_share`: the other annotators' AR vote share as the score of one annotator's
      label (how well the crowd predicts a single annotator, the label most of AnnoMI has);
    - `ceiling_one_annotator`: one annotator's label as the prediction of the others' majority.
    """
    votes = annotator_votes(annomi)
    blocks = []
    for annotator in votes.columns:
        own = votes[annotator]
        keep = own.notna().to_numpy()
        others = votes.drop(columns=annotator).mean(axis=1).to_numpy()[keep]
        own = own.to_numpy()[keep]
        index = votes.index[keep]
        common = {
            "transcript_id": index.get_level_values("transcript_id").astype(str),
            "utterance_id": index.get_level_values("utterance_id"),
            "fold": -1,
            "seed": -1,
        }
        blocks.append(
            pd.DataFrame(
                common
                | {
                    "detector": "ceiling_vote_share",
                    "score": others,
                    "predicted": (others >= 0.5).astype(int),
                    "label": own.astype(int),
                }
            )
        )
        blocks.append(
            pd.DataFrame(
                common
                | {
                    "detector": "ceiling_one_annotator",
                    "score": own,
                    "predicted": own.astype(int),
                    "label": (others >= 0.5).astype(int),
                }
            )
        )
    return pd.concat(blocks, ignore_index=True)


def precision_at_recall(y, score, recall_level: float = 0.5, weight=None) -> float:
    """Highest precision among thresholds whose recall is at least `recall_level`."""
    y = np.asarray(y)
    positives = y.sum() if weight is None else (np.asarray(weight) * y).sum()
    if positives == 0:
        return float("nan")
    precision, recall, _ = precision_recall_curve(y, score, sample_weight=weight)
    return float(precision[recall >= recall_level].max())


def ranking_metrics(y, score, predicted, groups, n_boot: int = 300, seed: int = 0) -> dict:
    """Precision, recall, F1 at the detector's threshold, average precision and precision at
    recall 0.5, each with a 95% cluster-bootstrap interval (whole transcripts resampled)."""
    y, score = np.asarray(y, dtype=int), np.asarray(score, dtype=float)
    out = evaluate_detector(y, predicted, groups, n_boot=n_boot, seed=seed)
    codes, uniques = pd.factorize(pd.Series(np.asarray(groups)).astype(str))
    rng = np.random.default_rng(seed)
    boot = {"ap": [], "p_at_r50": []}
    for _ in range(n_boot):
        weight = np.bincount(rng.integers(0, len(uniques), len(uniques)), minlength=len(uniques))[codes]
        if (weight * y).sum() == 0 or (weight * (1 - y)).sum() == 0:
            continue
        boot["ap"].append(average_precision_score(y, score, sample_weight=weight))
        boot["p_at_r50"].append(precision_at_recall(y, score, 0.5, weight))
    point = {
        "ap": average_precision_score(y, score) if 0 < y.sum() < len(y) else np.nan,
        "p_at_r50": precision_at_recall(y, score, 0.5),
    }
    for name, value in point.items():
        low, high = np.percentile(boot[name], [2.5, 97.5]) if boot[name] else (np.nan, np.nan)
        out |= {name: float(value), f"{name}_low": float(low), f"{name}_high": float(high)}
    return out


def summarise(predictions: pd.DataFrame, repeated: pd.Series, n_boot: int = 300) -> pd.DataFrame:
    """One row per detector, seed and subset (all, repeated text, unique text).

    `repeated` maps "transcript_id/utterance_id" to whether the text repeats elsewhere.
    """
    key = predictions["transcript_id"].astype(str) + "/" + predictions["utterance_id"].astype(str)
    is_repeated = key.map(repeated).fillna(False).to_numpy(dtype=bool)
    rows = []
    for (detector, seed), block in predictions.groupby(["detector", "seed"], sort=False):
        for subset, mask in (
            ("all", np.ones(len(block), bool)),
            ("repeated text", is_repeated[block.index]),
            ("unique text", ~is_repeated[block.index]),
        ):
            part = block[mask]
            if part.empty:
                continue
            metrics = ranking_metrics(
                part["label"], part["score"], part["predicted"], part["transcript_id"], n_boot, max(int(seed), 0)
            )
            rows.append({"detector": detector, "seed": int(seed), "subset": subset} | metrics)
    return pd.DataFrame(rows)


def session_summary(predictions: pd.DataFrame, utterances: pd.DataFrame) -> pd.DataFrame:
    """Per detector and seed: any-AR per session (precision, recall) and the error of the AR count
    (runs of positive therapist turns, as in the session features) against the human labels."""
    rows = []
    base = utterances[["session_id", "utterance_order", "speaker", "text"]]
    for (detector, seed), block in predictions.groupby(["detector", "seed"], sort=False):
        sessions = block["transcript_id"].astype(str).unique()
        table = base[base["session_id"].astype(str).isin(sessions)].reset_index(drop=True)
        key = table["session_id"].astype(str) + "/" + table["utterance_order"].astype(str)
        block_key = block["transcript_id"].astype(str) + "/" + block["utterance_id"].astype(str)
        counts = {}
        for column in ("predicted", "label"):
            labelled = table.assign(
                is_action_recommendation=key.map(pd.Series(block[column].to_numpy(), index=block_key)).fillna(0)
            )
            detector_ = HumanLabelDetector("action_recommendation")
            counts[column] = derive_session_features(labelled, detector_, detector_).set_index("session_id")[
                "ar_count"
            ]
        detected, human = counts["predicted"], counts["label"]
        error = detected - human
        any_detected, any_human = detected > 0, human > 0
        rows.append(
            {
                "detector": detector,
                "seed": int(seed),
                "n_sessions": len(human),
                "sessions_with_ar": int(any_human.sum()),
                "any_ar_precision": float((any_detected & any_human).sum() / max(any_detected.sum(), 1)),
                "any_ar_recall": float((any_detected & any_human).sum() / max(any_human.sum(), 1)),
                "mean_true_count": float(human.mean()),
                "mean_detected_count": float(detected.mean()),
                "count_mean_error": float(error.mean()),
                "count_mean_absolute_error": float(error.abs().mean()),
                "count_correlation": float(np.corrcoef(detected, human)[0, 1]) if detected.std() > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def median_over_seeds(summary: pd.DataFrame, columns=("precision", "recall", "f1", "ap", "p_at_r50")) -> pd.DataFrame:
    """Median of each metric over the fold seeds, per detector and subset."""
    return summary.groupby(["detector", "subset"], sort=False)[list(columns)].median().reset_index()


def error_analysis(predictions: pd.DataFrame, utterances: pd.DataFrame, recall_level: float = 0.5) -> pd.DataFrame:
    """Where each detector's errors are, at the threshold that reaches `recall_level` overall.

    Per detector and seed, the threshold is the highest score whose recall reaches `recall_level`;
    rows then give, for groups of therapist utterances, the count, the positives, the share of
    them found (recall) and the share of all false positives that fall in the group. Groups: the
    majority input subtype (advice / options / negotiation / information / none), repeated vs unique
    text, the annotators' AR share on the 7 transcripts that all ten labelled (ten votes) and
    single-annotator transcripts.
    """
    table = utterances.assign(
        key=utterances["session_id"].astype(str) + "/" + utterances["utterance_order"].astype(str),
        repeated=repeated_text(utterances),
    )
    subtype_columns = [c for c in table.columns if c.startswith("subtype_")]
    table["majority_subtype"] = (
        table[subtype_columns].fillna(-1.0).idxmax(axis=1).str.removeprefix("subtype_") if subtype_columns else "unknown"
    )
    share = table.get("ar_share", pd.Series(np.nan, index=table.index))
    n_annotators = table.get("n_annotators", pd.Series(1, index=table.index))
    table["agreement"] = np.select(
        [n_annotators == 1, share >= 0.8, share >= 0.5, share > 0],
        ["one annotator", "ten: >= 80% say AR", "ten: 50-79% say AR", "ten: some say AR"],
        "ten: none say AR",
    )
    table = table.set_index("key")
    rows = []
    for (detector, seed), block in predictions[predictions["seed"] >= 0].groupby(["detector", "seed"], sort=False):
        key = block["transcript_id"].astype(str) + "/" + block["utterance_id"].astype(str)
        info = table.loc[key.to_numpy()]
        y, score = block["label"].to_numpy(), block["score"].to_numpy()
        order = np.argsort(-score, kind="stable")
        found = np.cumsum(y[order]) / max(y.sum(), 1)
        threshold = score[order][np.searchsorted(found, recall_level)]
        hit = score >= threshold
        false_positive = hit & (y == 0)
        for grouping in ("majority_subtype", "repeated", "agreement"):
            for value, part in pd.Series(np.arange(len(y))).groupby(info[grouping].to_numpy()):
                i = part.to_numpy()
                rows.append(
                    {
                        "detector": detector,
                        "seed": int(seed),
                        "grouping": grouping,
                        "group": str(value),
                        "n": len(i),
                        "positives": int(y[i].sum()),
                        "recall": float(hit[i][y[i] == 1].mean()) if y[i].sum() else np.nan,
                        "share_of_false_positives": float(false_positive[i].sum() / max(false_positive.sum(), 1)),
                        "precision": float((hit[i] & (y[i] == 1)).sum() / hit[i].sum()) if hit[i].any() else np.nan,
                    }
                )
    return pd.DataFrame(rows)
