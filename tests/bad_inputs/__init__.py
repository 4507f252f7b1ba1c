"""The bad-input corpus: `cases.py` writes each malformed input from a valid baseline."""
