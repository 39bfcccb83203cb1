"""Diagnosis models behind one contract (see :mod:`dxkit.models.base`)."""
