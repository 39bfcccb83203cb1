"""Data quality: plausibility ranges, unit conversion, warnings and data-set reports."""
