"""Batch scoring at scale: local processes, Ray Data or Spark, with one answer per case.

Start with :func:`dxkit.scale.engines.score_distributed`. Submodules are imported on
demand; Ray and PySpark only when their engine is chosen.
"""
