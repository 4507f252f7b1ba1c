"""From utterance-level transcripts to Study 2 session features: action recommendations (ARs)
and their review (Spinrad et al. 2024). See docs/transcripts.md."""

from homeworkflow.transcripts.annomi import annomi_utterances, load_annomi, load_review_labels
from homeworkflow.transcripts.detectors import HumanLabelDetector, RuleBasedDetector, TrainedDetector
from homeworkflow.transcripts.evaluation import evaluate_detector
from homeworkflow.transcripts.features import derive_session_features
from homeworkflow.transcripts.synthetic import simulate_transcripts
from homeworkflow.transcripts.utterances import TranscriptInputError, validate_utterances

__all__ = [
    "HumanLabelDetector",
    "RuleBasedDetector",
    "TrainedDetector",
    "TranscriptInputError",
    "annomi_utterances",
    "derive_session_features",
    "evaluate_detector",
    "load_annomi",
    "load_review_labels",
    "simulate_transcripts",
    "validate_utterances",
]
