"""AnnoMI (Wu et al. 2022, 2023) as an utterance table with AR labels, plus our review labels.

AnnoMI-full has one row per utterance and annotator; seven transcripts were annotated by ten
annotators. An utterance is an action recommendation (AR) when at least half of its annotators
gave it the therapist input subtype advice, options or negotiation (goal setting); information
giving is not an AR.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pandas as pd

AR_SUBTYPES = ("advice", "options", "negotiation")
BEHAVIOURS = ("question", "reflection", "therapist_input", "other")
SUBTYPES = ("none", "information", "advice", "options", "negotiation")
ANNOMI_PATH = files("homeworkflow.transcripts") / "data" / "AnnoMI-full.csv"
REVIEW_LABELS_PATH = files("homeworkflow.transcripts") / "labels" / "annomi_review_labels.csv"


def load_annomi(path: str | Path | None = None) -> pd.DataFrame:
    """AnnoMI-full as shipped with the package (or from `path`)."""
    return pd.read_csv(ANNOMI_PATH if path is None else path)


def load_review_labels(path: str | Path | None = None) -> pd.DataFrame:
    """Our review labels: transcript_id, utterance_id, is_review, selection, note."""
    return pd.read_csv(REVIEW_LABELS_PATH if path is None else path, keep_default_na=False)


def annomi_utterances(annomi: pd.DataFrame, review_labels: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per utterance in the utterance-table contract, plus `mi_quality` and the annotators'
    shares used for multi-task training (`ar_share`, `n_annotators`, `behaviour_<b>` for
    `BEHAVIOURS`, `subtype_<s>` for `SUBTYPES`; NaN on client rows).

    `is_action_recommendation` is the annotators' majority (therapist rows; 0 for client rows);
    `is_review` is the review label where `review_labels` has one and missing elsewhere.
    """
    ar = annomi["therapist_input_subtype"].isin(AR_SUBTYPES)
    subtype = annomi["therapist_input_subtype"].fillna("none")
    indicators = {f"behaviour_{b}": annomi["main_therapist_behaviour"] == b for b in BEHAVIOURS}
    indicators |= {f"subtype_{s}": subtype == s for s in SUBTYPES}
    grouped = annomi.assign(ar=ar, **indicators).groupby(["transcript_id", "utterance_id"], sort=True)
    table = grouped.agg(
        speaker=("interlocutor", "first"),
        text=("utterance_text", "first"),
        mi_quality=("mi_quality", "first"),
        ar_share=("ar", "mean"),
        n_annotators=("annotator_id", "nunique"),
        **{name: (name, "mean") for name in indicators},
    ).reset_index()
    utterances = pd.DataFrame(
        {
            "session_id": table["transcript_id"].astype(str),
            "utterance_order": table["utterance_id"].astype("int64"),
            "speaker": table["speaker"],
            "text": table["text"].fillna("").astype(str),
            "is_action_recommendation": ((table["ar_share"] >= 0.5) & (table["speaker"] == "therapist")).astype(int),
            "mi_quality": table["mi_quality"],
        }
    )
    client = (table["speaker"] != "therapist").to_numpy()
    for name in ["ar_share", *indicators]:
        utterances[name] = table[name].astype(float).mask(client)
    utterances["n_annotators"] = table["n_annotators"].astype("int64")
    if review_labels is not None:
        key = review_labels["transcript_id"].astype(str) + "/" + review_labels["utterance_id"].astype(str)
        label = pd.Series(review_labels["is_review"].astype(float).to_numpy(), index=key)
        utterances["is_review"] = (utterances["session_id"] + "/" + utterances["utterance_order"].astype(str)).map(
            label
        )
    return utterances


def annotator_votes(annomi: pd.DataFrame) -> pd.DataFrame:
    """Each annotator's AR label (1.0/0.0, NaN where they did not label it), one row per therapist
    utterance that several annotators labelled, one column per annotator."""
    therapist = annomi[annomi["interlocutor"] == "therapist"]
    votes = therapist.assign(ar=therapist["therapist_input_subtype"].isin(AR_SUBTYPES).astype(float)).pivot_table(
        index=["transcript_id", "utterance_id"], columns="annotator_id", values="ar", aggfunc="first"
    )
    return votes[votes.notna().sum(axis=1) > 1]
