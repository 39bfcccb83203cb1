"""Features: turn a case into model inputs (text, tabular vectors, NEWS2)."""
