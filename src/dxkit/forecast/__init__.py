"""Deterioration forecasting from irregular bedside time series.

Data flows ``physionet``/``series`` (records) -> ``checks`` (artefacts masked, warnings)
-> ``scores`` (NEWS2, qSOFA, SOFA-like over time) -> ``features`` (windowed summaries) ->
``gbm`` (a :class:`~dxkit.forecast.base.ForecastModel`) -> ``calibration`` and ``explain``.
"""
