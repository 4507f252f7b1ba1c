# Optional: Study 2 session features derived from utterance-level transcripts.


rule simulate_transcripts:
    input:
        sessions="results/{run}/study2/simulated/sessions.csv",
    output:
        "results/{run}/study2/transcripts/utterances.parquet",
    log:
        "results/{run}/logs/simulate_transcripts.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        seed=config["seed"],
    script:
        "../scripts/simulate_transcripts.py"


rule transcript_features:
    input:
        utterances=transcript_utterances,
        sessions=study2_given_sessions,
    output:
        sessions="results/{run}/study2/transcripts/sessions.csv",
        evaluation=report(
            "results/{run}/study2/transcripts/evaluation.csv",
            caption="../report/transcript_evaluation.rst",
            category="Study 2: action recommendations",
            subcategory="Transcripts",
        ),
        validation="results/{run}/study2/transcripts/review_validation.csv",
        feature_error="results/{run}/study2/transcripts/feature_error.csv",
        ar_detector="results/{run}/study2/transcripts/detectors/action_recommendation.detector",
        review_detector="results/{run}/study2/transcripts/detectors/review.detector",
    log:
        "results/{run}/logs/transcript_features.log",
    conda:
        "../envs/data.yaml"
    # The encoder detector fine-tunes on 2 threads; the others are single-threaded.
    threads: 2 if config["study2"]["transcripts"]["detector"] == "encoder" else 1
    resources:
        mem_mb=6000,
        runtime=90,
    params:
        detector=config["study2"]["transcripts"]["detector"],
        labelled_sessions=config["study2"]["transcripts"]["labelled_sessions"],
        seed=config["seed"],
    script:
        "../scripts/transcript_features.py"
