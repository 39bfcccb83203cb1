"""Calibration: make predicted probabilities mean what they say."""
