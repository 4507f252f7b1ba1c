"""From utterance-level transcripts to Study 2 session features: action recommendations and review."""
