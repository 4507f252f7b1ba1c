"""Utterance-level detectors of action recommendations (ARs) and of AR review.

Every detector has `.fit(utterances, labels)`, `.predict(utterances) -> bool array` (one value per
row; client rows are always False) and `.save(path)` / `Detector.load(path)` (joblib).

- `RuleBasedDetector`: transparent regular expressions (`RULES`), no training.
- `TrainedDetector`: TF-IDF word 1-2-grams and character 2-5-grams of the utterance, words of
  the previous utterance (context, usually the client's), and a class-balanced logistic regression. The
  decision threshold is chosen on out-of-fold predictions within the training data (folds by
  session), never on evaluation data.
- `HumanLabelDetector`: reads the human label column; an oracle for checks and for users whose
  transcripts are coded by people.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from homeworkflow.transcripts.utterances import LABEL_COLUMNS, is_therapist, previous_text

TARGETS = tuple(LABEL_COLUMNS)

# One alternation per idea, so a rule can be read, tested and switched off on its own.
RULES: dict[str, dict[str, str]] = {
    "action_recommendation": {
        "direct request": r"\b(i'd|i would|i|we'd) (like|want|suggest|recommend|encourage|ask) (you|that you)\b",
        "you could/should try": (
            r"\byou (could|might|should|can|may want to|need to) (try|start|go|use|keep|write|call|take|make|"
            r"practi[cs]e|cut|talk|join|set|plan|think about|look|spend|get|do|put|bring|avoid)\b"
        ),
        "casual suggestion": (
            r"\b(why don't you|how about (you|trying|if you|we)|what if you|maybe (you could|try|go|start|get back)|"
            r"try to|give it a (try|go)|it (might|would|could) (help|be (good|helpful|worth))( for you)? to)\b"
        ),
        "between sessions": (
            r"\b(homework|between now and|before (we meet|next time|our next|i see you)|"
            r"(this|next|over the (next|coming)) (week|few days)[^.?!]{0,40}\b(try|could|would|can)\b)"
        ),
        "goal or plan": (
            r"\b(your goal (is|could be|would be|for)|let's (set|plan|try|agree|make)|set (a|some) goals?|"
            r"make a plan|the plan (is|would be)|step (would|could) be)\b"
        ),
        "advice": (
            r"\b(my (advice|recommendation|suggestion)|i('d| would)? recommend|i suggest|"
            r"it's important (that|to) you)\b"
        ),
    },
    "review": {
        "last session": (
            r"\b(last (time|week|session|visit)|since (we|i) (last )?(met|spoke|talked|saw you)|since (the|our) last)\b"
        ),
        "how did it go": (
            r"\b(how did (it|that|the \w+|your \w+|you get on)( \w+)? go|how('s| has| is) the \w+ (been )?going|"
            r"how did you get on)\b"
        ),
        "did you manage": (
            r"\b(did you (get a chance|manage|get to|try|do)|were you able to|have you been able to|"
            r"how many (times|days) did you|how often did you)\b"
        ),
        "agreed earlier": (
            r"\b(you said you('d| would| were going to)|you were going to|we agreed|(the|your) plan (was|we made)|"
            r"your homework|the homework|we talked about last)\b"
        ),
        "barriers": r"\b(what got in the way|what (made|helped) (it|that) (hard|easier|possible)|what stopped you)\b",
    },
}


class Detector:
    """Shared persistence and the therapist-only rule; subclasses implement `_predict_therapist`."""

    target: str

    def fit(self, utterances: pd.DataFrame, labels=None) -> Detector:
        """Rules and human labels need no training."""
        return self

    def predict(self, utterances: pd.DataFrame) -> np.ndarray:
        therapist = is_therapist(utterances)
        out = np.zeros(len(utterances), dtype=bool)
        if therapist.any():
            out[therapist] = self._predict_therapist(utterances.loc[therapist], previous_text(utterances)[therapist])
        return out

    def _predict_therapist(self, rows: pd.DataFrame, before: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, utterances: pd.DataFrame) -> np.ndarray:
        """A score per row for ranking (precision-recall curves); here the 0/1 prediction."""
        return self.predict(utterances).astype(float)

    def save(self, path: str | Path) -> None:
        """Write the detector (joblib) to a temporary file, then rename: never half-written."""
        tmp = Path(f"{path}.tmp")
        joblib.dump(self, tmp, compress=3)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> Detector:
        detector = joblib.load(path)
        if not isinstance(detector, cls):
            raise TypeError(f"{path}: holds a {type(detector).__name__}, not a {cls.__name__}")
        return detector


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return target


class RuleBasedDetector(Detector):
    """Positive when any of the target's `RULES` matches the utterance (case-insensitive)."""

    def __init__(self, target: str):
        self.target = _check_target(target)
        self.pattern = re.compile("|".join(f"(?:{p})" for p in RULES[target].values()), re.IGNORECASE)

    def _predict_therapist(self, rows, before):
        texts = rows["text"].astype(str).to_numpy()
        return np.fromiter((self.pattern.search(t) is not None for t in texts), dtype=bool, count=len(texts))


class HumanLabelDetector(Detector):
    """Returns the human label (`is_action_recommendation` / `is_review`); blank counts as 0."""

    def __init__(self, target: str):
        self.target = _check_target(target)

    def _predict_therapist(self, rows, before):
        return pd.to_numeric(rows[LABEL_COLUMNS[self.target]], errors="coerce").fillna(0).to_numpy() == 1


class TrainedDetector(Detector):
    """TF-IDF + logistic regression with a threshold tuned on training folds.

    `min_precision=None` picks the threshold with the best out-of-fold F1; a number picks the
    lowest threshold whose out-of-fold precision reaches it (the most recall at that precision).
    The TF-IDF vocabulary is learnt once from all training utterances (it uses no labels); only
    the regression is refitted per fold.
    """

    def __init__(self, target: str, min_precision: float | None = None, C: float = 0.25, n_folds: int = 5):
        self.target = _check_target(target)
        self.min_precision, self.C, self.n_folds = min_precision, C, n_folds
        self.pipeline: Pipeline | None = None
        self.threshold: float | None = None

    def _model(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000)

    @threadpool_limits.wrap(limits=1, user_api="blas")  # tiny BLAS calls: threads only add overhead
    def fit(self, utterances: pd.DataFrame, labels) -> TrainedDetector:
        """Train on therapist rows whose label is 0/1 (NaN = unlabelled, skipped)."""
        y = np.asarray(labels, dtype=float)
        use = is_therapist(utterances) & ~np.isnan(y)
        y, groups = y[use].astype(int), utterances["session_id"].astype(str).to_numpy()[use]
        if y.min() == y.max():
            raise ValueError(f"{self.target}: training labels are all {y[0]}; need both classes")
        features = _vectoriser()
        X = features.fit_transform(
            pd.DataFrame(
                {"text": utterances["text"].astype(str).to_numpy()[use], "before": previous_text(utterances)[use]}
            )
        )
        n_folds = min(self.n_folds, len(np.unique(groups[y == 1])))
        scores = np.zeros(len(y))
        for train, test in GroupKFold(n_folds).split(X, y, groups):
            scores[test] = self._model().fit(X[train], y[train]).predict_proba(X[test])[:, 1]
        self.threshold = choose_threshold(y, scores, self.min_precision)
        self.pipeline = Pipeline([("features", features), ("model", self._model().fit(X, y))])
        return self

    def _predict_therapist(self, rows, before):
        return self._probability(rows, before) >= self.threshold

    @threadpool_limits.wrap(limits=1, user_api="blas")
    def _probability(self, rows, before):
        if self.pipeline is None:
            raise RuntimeError("fit the detector before using it")
        X = pd.DataFrame({"text": rows["text"].astype(str).to_numpy(), "before": before})
        return self.pipeline.predict_proba(X)[:, 1]

    def score(self, utterances: pd.DataFrame) -> np.ndarray:
        """The regression's probability per row (0 for client rows)."""
        therapist = is_therapist(utterances)
        out = np.zeros(len(utterances))
        if therapist.any():
            out[therapist] = self._probability(utterances.loc[therapist], previous_text(utterances)[therapist])
        return out


def _vectoriser() -> ColumnTransformer:
    """Word 1-2-grams and character 2-5-grams of the utterance, words of the utterance before."""

    def tfidf(**kw):
        return TfidfVectorizer(sublinear_tf=True, min_df=2, **kw)

    return ColumnTransformer(
        [
            ("words", tfidf(ngram_range=(1, 2)), "text"),
            ("chars", tfidf(analyzer="char_wb", ngram_range=(2, 5)), "text"),
            ("context", tfidf(), "before"),
        ]
    )


def choose_threshold(y: np.ndarray, scores: np.ndarray, min_precision: float | None) -> float:
    """Threshold with the best F1, or the lowest one whose precision reaches `min_precision`."""
    precision, recall, thresholds = precision_recall_curve(y, scores)
    precision, recall = precision[:-1], recall[:-1]
    if min_precision is None:
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
        return float(thresholds[np.argmax(f1)])
    reached = np.flatnonzero(precision >= min_precision)
    return float(thresholds[reached[0]]) if len(reached) else float(thresholds[-1])
