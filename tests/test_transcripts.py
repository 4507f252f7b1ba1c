"""Transcripts to Study 2 features: AnnoMI benchmark, synthetic recovery, input errors, detectors."""

import time

import numpy as np
import pandas as pd
import pytest

from homeworkflow.transcripts import (
    HumanLabelDetector,
    RuleBasedDetector,
    TrainedDetector,
    TranscriptInputError,
    annomi_utterances,
    derive_session_features,
    evaluate_detector,
    load_annomi,
    load_review_labels,
    simulate_transcripts,
    validate_utterances,
)
from homeworkflow.transcripts.crossval import ceiling_predictions, out_of_fold, repeated_text, summarise

SPINRAD_AR_PRECISION = 0.76


# ------------------------------------------------------------------------------ AnnoMI benchmark


@pytest.fixture(scope="module")
def annomi():
    return load_annomi()


@pytest.fixture(scope="module")
def benchmark(annomi):
    """Out of fold over all of AnnoMI (5 folds grouped by transcript, fold seed 0): rules and TF-IDF
    for both targets, and the annotators' ceiling rows (checked in test_transcripts_encoder.py);
    one row per (target, detector), all utterances."""
    utterances = annomi_utterances(annomi, load_review_labels())
    repeated = pd.Series(
        repeated_text(utterances),
        index=utterances["session_id"].astype(str) + "/" + utterances["utterance_order"].astype(str),
    )
    tables = []
    for target in ("action_recommendation", "review"):
        detectors = {
            "rules": lambda seed, target=target: RuleBasedDetector(target),
            "tfidf_logreg": lambda seed, target=target: TrainedDetector(target),
        }
        predictions = out_of_fold(utterances, target, detectors, seeds=(0,))
        if target == "action_recommendation":
            predictions = pd.concat([predictions, ceiling_predictions(annomi)], ignore_index=True)
        tables.append(summarise(predictions, repeated, n_boot=200).assign(target=target))
    table = pd.concat(tables, ignore_index=True)
    table = table[table["subset"] == "all"]
    print("\n" + table.round(3).to_string())
    return table.set_index(["target", "detector"])


def test_evaluation_table_has_every_detector_with_sane_values(benchmark):
    expected = {
        ("action_recommendation", "rules"),
        ("action_recommendation", "tfidf_logreg"),
        ("action_recommendation", "ceiling_vote_share"),
        ("action_recommendation", "ceiling_one_annotator"),
        ("review", "rules"),
        ("review", "tfidf_logreg"),
    }
    assert set(benchmark.index) == expected
    for metric in ("precision", "recall", "f1", "ap", "p_at_r50"):
        values = benchmark[[metric, f"{metric}_low", f"{metric}_high"]].dropna()
        assert values.apply(lambda c: c.between(0, 1)).all().all()
        assert (values[f"{metric}_low"] <= values[metric] + 1e-9).all()
        assert (values[metric] <= values[f"{metric}_high"] + 1e-9).all()
    assert (benchmark["n_positive"] > 0).all() and (benchmark["n_evaluated"] > benchmark["n_positive"]).all()


def test_trained_ar_detector_beats_rules_out_of_fold(benchmark):
    trained, rules = benchmark.loc[("action_recommendation", "tfidf_logreg")], benchmark.loc[("action_recommendation", "rules")]
    assert trained["f1"] > rules["f1"] and trained["ap"] > rules["ap"]
    assert trained["recall"] >= 0.4


@pytest.mark.xfail(
    strict=True,
    reason="AnnoMI's AR labels (advice/options/negotiation) are too noisy: single expert annotators reach "
    "precision ~0.51 against their colleagues' majority (ceiling_one_annotator row), so 0.76 at recall 0.5 "
    "is above the label ceiling for utterance-level TF-IDF models",
)
def test_trained_ar_detector_reaches_spinrad_precision_at_half_recall(benchmark):
    assert benchmark.loc[("action_recommendation", "tfidf_logreg"), "p_at_r50"] >= SPINRAD_AR_PRECISION


def test_review_labels_are_enough_and_on_therapist_utterances(annomi):
    labels = load_review_labels()
    assert len(labels) >= 200 and labels["is_review"].sum() >= 40
    assert set(labels["is_review"]) == {0, 1}
    utterances = annomi_utterances(annomi, labels)
    labelled = utterances[utterances["is_review"].notna()]
    assert len(labelled) == len(labels) and (labelled["speaker"] == "therapist").all()


def test_annomi_ar_label_is_annotator_majority_of_advice_options_negotiation(annomi):
    utterances = annomi_utterances(annomi)
    assert len(utterances) == annomi.groupby(["transcript_id", "utterance_id"]).ngroups
    assert utterances.loc[utterances["speaker"] == "client", "is_action_recommendation"].eq(0).all()
    single = annomi.groupby(["transcript_id", "utterance_id"]).filter(lambda g: len(g) == 1)
    expected = single["therapist_input_subtype"].isin(["advice", "options", "negotiation"]).to_numpy()
    merged = single.merge(
        utterances.assign(
            transcript_id=utterances["session_id"].astype(int), utterance_id=utterances["utterance_order"]
        )
    )
    assert (merged["is_action_recommendation"].to_numpy() == expected).all()


# ------------------------------------------------------------------------------ synthetic data


def study2_like_sessions(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_units = np.clip(np.rint(150 * np.exp(rng.normal(0, 0.3, n))), 80, 300).astype(int)
    return pd.DataFrame(
        {
            "session_id": [f"s{seed}-{i}" for i in range(n)],
            "n_units": n_units,
            "ar_true": np.minimum(rng.poisson(4.5, n), 12),
            "review_units_true": np.where(rng.random(n) < 0.5, 0, 1 + rng.binomial(n_units - 1, 0.08)),
        }
    )


def test_synthetic_counts_are_exact_and_turns_alternate():
    sessions = study2_like_sessions(60, seed=1)
    utterances = validate_utterances(simulate_transcripts(sessions, seed=1), "synthetic")
    per_session = utterances.groupby("session_id").agg(
        n_units=("text", "size"), ar=("is_action_recommendation", "sum"), review=("is_review", "sum")
    )
    truth = sessions.set_index("session_id").loc[per_session.index]
    assert (per_session["n_units"] == truth["n_units"]).all()
    assert (per_session["ar"] == truth["ar_true"]).all()
    assert (per_session["review"] == truth["review_units_true"]).all()
    therapist = utterances["speaker"] == "therapist"
    assert (therapist == (utterances["utterance_order"] % 2 == 1)).all()
    labelled = (utterances["is_action_recommendation"] == 1) | (utterances["is_review"] == 1)
    assert therapist[labelled].all()
    assert not ((utterances["is_action_recommendation"] == 1) & (utterances["is_review"] == 1)).any()
    assert utterances["text"].nunique() > 1000  # varied sentences


def test_synthetic_transcripts_are_deterministic_for_a_seed():
    sessions = study2_like_sessions(20, seed=2)
    first, again = simulate_transcripts(sessions, seed=5), simulate_transcripts(sessions, seed=5)
    pd.testing.assert_frame_equal(first, again)
    assert not first["text"].equals(simulate_transcripts(sessions, seed=6)["text"])


def test_synthetic_sessions_too_short_for_their_counts_are_an_error():
    sessions = pd.DataFrame(
        {"session_id": ["ok", "short"], "n_units": [20, 6], "ar_true": [2, 2], "review_units_true": [1, 2]}
    )
    with pytest.raises(ValueError, match="too few units.*short"):
        simulate_transcripts(sessions, seed=0)


def test_features_with_true_labels_reproduce_the_true_counts_at_study_size():
    sessions = study2_like_sessions(2444, seed=3)
    start = time.perf_counter()
    utterances = simulate_transcripts(sessions, seed=3)
    seconds = time.perf_counter() - start
    print(f"\nsimulated {len(utterances):,} utterances in {seconds:.1f} s")
    assert seconds < 10
    oracle = {t: HumanLabelDetector(t) for t in ("action_recommendation", "review")}
    features = derive_session_features(utterances, oracle["action_recommendation"], oracle["review"])
    truth = sessions.set_index("session_id").loc[features["session_id"]]
    assert (features["n_units"].to_numpy() == truth["n_units"].to_numpy()).all()
    assert (features["ar_count"].to_numpy() == truth["ar_true"].to_numpy()).all()
    assert (features["review_units"].to_numpy() == truth["review_units_true"].to_numpy()).all()
    expected = 100 * truth["review_units_true"].to_numpy() / truth["n_units"].to_numpy()
    np.testing.assert_allclose(features["review_percentage"], expected)


def test_detectors_trained_on_synthetic_transcripts_are_informative_but_imperfect():
    train_sessions, test_sessions = study2_like_sessions(150, seed=11), study2_like_sessions(100, seed=12)
    train, test = simulate_transcripts(train_sessions, seed=11), simulate_transcripts(test_sessions, seed=12)
    ar = TrainedDetector("action_recommendation").fit(train, train["is_action_recommendation"])
    review = TrainedDetector("review").fit(train, train["is_review"])
    features = derive_session_features(test, ar, review).merge(test_sessions, on="session_id")
    therapist = (test["speaker"] == "therapist").to_numpy()
    report = {}
    for name, detector, label, count, truth in (
        ("ar", ar, "is_action_recommendation", "ar_count", "ar_true"),
        ("review", review, "is_review", "review_units", "review_units_true"),
    ):
        scores = evaluate_detector(
            test[label][therapist] == 1, detector.predict(test)[therapist], test["session_id"][therapist], n_boot=200
        )
        error = features[count] - features[truth]
        report[name] = {
            "f1": scores["f1"],
            "precision": scores["precision"],
            "recall": scores["recall"],
            "mean_error": error.mean(),
            "mean_abs_error": error.abs().mean(),
            "correlation": np.corrcoef(features[count], features[truth])[0, 1],
        }
    print("\n" + pd.DataFrame(report).round(3).to_string())
    for name, r in report.items():
        assert 0.6 <= r["f1"] < 0.98, name
        assert r["correlation"] >= 0.6, name
    assert report["ar"]["mean_abs_error"] < 2.5 and report["review"]["mean_abs_error"] < 5


# ------------------------------------------------------------------------------ session features


def test_an_ar_spread_over_consecutive_therapist_turns_counts_once():
    rows = [  # (session, order, speaker, is_ar, is_review)
        ("a", 1, "therapist", 0, 1),
        ("a", 2, "client", 0, 0),
        ("a", 3, "therapist", 1, 0),
        ("a", 4, "client", 0, 0),
        ("a", 5, "therapist", 1, 0),  # same recommendation, continued
        ("a", 6, "client", 0, 0),
        ("a", 7, "therapist", 0, 0),
        ("a", 8, "client", 0, 0),
        ("a", 9, "therapist", 1, 0),  # a second one
        ("b", 1, "therapist", 1, 0),  # runs never cross sessions
        ("b", 2, "client", 0, 0),
    ]
    utterances = pd.DataFrame(
        rows, columns=["session_id", "utterance_order", "speaker", "is_action_recommendation", "is_review"]
    )
    utterances = utterances.assign(text="x").sample(frac=1, random_state=0)  # row order must not matter
    features = derive_session_features(
        utterances, HumanLabelDetector("action_recommendation"), HumanLabelDetector("review")
    ).set_index("session_id")
    assert features.loc["a", "ar_count"] == 2 and features.loc["b", "ar_count"] == 1
    assert features.loc["a", "n_units"] == 9 and features.loc["a", "review_units"] == 1
    assert features.loc["a", "review_percentage"] == pytest.approx(100 / 9)


# ------------------------------------------------------------------------------ input errors


def good_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": ["s1", "s1", "s1", "s2"],
            "utterance_order": [1, 2, 3, 1],
            "speaker": ["therapist", "client", "therapist", "therapist"],
            "text": ["How did the walking go?", "", "Maybe try cooking again this week.", "Hello."],
            "is_action_recommendation": [0, 0, 1, 0],
            "is_review": [1, 0, 0, None],
        }
    )


def test_a_good_table_passes_typed():
    table = validate_utterances(good_table(), "sessions.csv")
    assert table["utterance_order"].dtype == np.int64 and table["is_review"].isna().sum() == 1


@pytest.mark.parametrize(
    "edit, column, rows, reason",
    [
        (lambda t: t.drop(columns="speaker"), "'speaker'", None, "required column is missing"),
        (
            lambda t: t.assign(speaker=["therapist", "patient", "therapist", "Doctor"]),
            "'speaker'",
            "data rows 2, 4",
            "must be one of therapist, client",
        ),
        (
            lambda t: t.assign(utterance_order=[1, 2, 2, 1]),
            "'session_id', 'utterance_order'",
            "data rows 2, 3",
            "appears more than once",
        ),
        (
            lambda t: t.assign(text=["How?", "", "  ", None]),
            "'text'",
            "data rows 3, 4",
            "therapist utterance has no text",
        ),
        (lambda t: t.assign(is_review=[1, 0, 2, "yes"]), "'is_review'", "data rows 3, 4", "label must be 0 or 1"),
        (
            lambda t: t.assign(is_action_recommendation=[0, 1, 1, 0]),
            "'is_action_recommendation'",
            "data row 2",
            "only therapist",
        ),
        (lambda t: t.assign(utterance_order=[1, 2.5, 3, 1]), "'utterance_order'", "data row 2", "whole number"),
    ],
    ids=[
        "missing-column",
        "bad-speaker",
        "duplicate-order",
        "empty-therapist-text",
        "bad-label",
        "client-positive",
        "order",
    ],
)
def test_each_input_error_names_file_column_rows_and_reason(edit, column, rows, reason):
    with pytest.raises(TranscriptInputError) as error:
        validate_utterances(edit(good_table()), "sessions.csv")
    assert isinstance(error.value, ValueError)
    message = str(error.value)
    assert "sessions.csv" in message and column in message and reason in message
    if rows:
        assert rows in message


def test_many_offending_rows_are_shown_as_the_first_five_and_a_count():
    table = pd.DataFrame({"session_id": "s", "utterance_order": range(12), "speaker": "nurse", "text": "x"})
    message = str(pytest.raises(TranscriptInputError, validate_utterances, table, "big.csv").value)
    assert "data rows 1, 2, 3, 4, 5, ... (12 rows in total)" in message


# ------------------------------------------------------------------------------ detectors


def test_rules_catch_casual_recommendations_and_reviews_but_not_hard_negatives():
    table = pd.DataFrame(
        {
            "session_id": "s",
            "utterance_order": range(6),
            "speaker": ["therapist"] * 5 + ["client"],
            "text": [
                "Maybe try cooking again this week.",
                "Cooking can help a lot of people with their mood.",
                "Last time you said you'd cut down to two drinks; how has that been?",
                "How did the walking go since we last met?",
                "What would you like to focus on today?",
                "Maybe try cooking again this week.",  # client rows are never positive
            ],
        }
    )
    assert RuleBasedDetector("action_recommendation").predict(table).tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    assert RuleBasedDetector("review").predict(table).tolist() == [False, False, True, True, False, False]


def test_trained_detector_is_deterministic_and_survives_save_and_load(tmp_path):
    utterances = simulate_transcripts(study2_like_sessions(40, seed=21), seed=21)
    first = TrainedDetector("review").fit(utterances, utterances["is_review"])
    again = TrainedDetector("review").fit(utterances, utterances["is_review"])
    first.save(tmp_path / "a.joblib")
    again.save(tmp_path / "b.joblib")
    assert (tmp_path / "a.joblib").read_bytes() == (tmp_path / "b.joblib").read_bytes()
    loaded = TrainedDetector.load(tmp_path / "a.joblib")
    predicted = loaded.predict(utterances)
    assert (predicted == first.predict(utterances)).all()
    assert not predicted[(utterances["speaker"] == "client").to_numpy()].any()
    with pytest.raises(TypeError, match="not a RuleBasedDetector"):
        RuleBasedDetector.load(tmp_path / "a.joblib")


# ------------------------------------------------------------------------------ evaluation


def test_cluster_bootstrap_resamples_transcripts():
    y_true = np.array([1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
    perfect = evaluate_detector(y_true, y_true, groups=[1, 1, 1, 1, 2, 2, 2, 2], n_boot=200)
    assert perfect["precision"] == perfect["precision_low"] == perfect["precision_high"] == 1.0
    # all errors in one transcript: the interval spans what each transcript alone would give
    y_pred = np.array([1, 1, 0, 0, 0, 0, 1, 1], dtype=bool)
    result = evaluate_detector(y_true, y_pred, groups=[1, 1, 1, 1, 2, 2, 2, 2], n_boot=500, seed=1)
    assert result["precision"] == 0.5 and result["precision_low"] == 0.0 and result["precision_high"] == 1.0
    assert result["n_positive"] == 4 and result["n_evaluated"] == 8 and result["n_groups"] == 2
    assert evaluate_detector(y_true, y_pred, [1, 1, 1, 1, 2, 2, 2, 2], n_boot=500, seed=1) == result
