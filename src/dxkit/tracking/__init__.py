"""Experiment tracking and the model registry, on MLflow.

Every ``dxkit train`` and ``dxkit evaluate`` records what it did (settings, metrics, the
model directory, the HTML report) so that any model in use can be traced back to the run
that made it. MLflow is imported only inside the functions that need it: the CLI starts
as fast without tracking as before, and importing this package touches no store.
"""
