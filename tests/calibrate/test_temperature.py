from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dxkit.calibrate.temperature import CalibratedModel, apply_temperature, fit_temperature
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.errors import InputError
from dxkit.evaluate.metrics import expected_calibration_error
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.models.base import load_model
from dxkit.models.tfidf import TfidfModel


def test_temperature_preserves_ranking_and_fixes_overconfidence() -> None:
    rng = np.random.default_rng(1)
    n, c = 2000, 5
    y = rng.integers(0, c, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, c, n))  # right ~68%
    proba = np.full((n, c), 0.01)
    proba[np.arange(n), pred] = 0.96  # claims 96%
    t = fit_temperature(proba, y)
    calibrated = apply_temperature(proba, t)
    assert t > 1
    assert (calibrated.argmax(1) == proba.argmax(1)).all()
    assert expected_calibration_error(y, calibrated) < 0.03 < expected_calibration_error(y, proba)


def test_too_few_cases_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="at least 20 validation cases"):
        fit_temperature(np.full((5, 2), 0.5), np.zeros(5, dtype=int))


def test_calibrated_model_round_trips(tmp_path: Path, tiny_kb: KnowledgeBase) -> None:
    cohort = CohortGenerator(CohortConfig(n=300, seed=0), tiny_kb).generate()
    train, val = cohort[:200], cohort[200:]
    model = TfidfModel().fit([lc.case for lc in train], [lc.label for lc in train])
    calibrated = CalibratedModel.calibrate(model, [lc.case for lc in val], [lc.label for lc in val])
    assert calibrated.report["ece_after"] <= calibrated.report["ece_before"] + 1e-6
    calibrated.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, CalibratedModel)
    cases = [lc.case for lc in val[:10]]
    np.testing.assert_allclose(loaded.predict_proba(cases), calibrated.predict_proba(cases))
    assert not np.allclose(calibrated.predict_proba(cases), model.predict_proba(cases))
    with pytest.raises(InputError, match="fit the inner model"):
        loaded.fit([], [])


def test_calibration_also_fits_conformal_sets_that_round_trip(
    tmp_path: Path, tiny_kb: KnowledgeBase
) -> None:
    cohort = CohortGenerator(CohortConfig(n=400, seed=2), tiny_kb).generate()
    train, val = cohort[:250], cohort[250:]
    model = TfidfModel().fit([lc.case for lc in train], [lc.label for lc in train])
    calibrated = CalibratedModel.calibrate(
        model, [lc.case for lc in val], [lc.label for lc in val], alpha=0.2
    )
    assert calibrated.conformal is not None
    assert calibrated.conformal.alpha == 0.2
    calibrated.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, CalibratedModel) and loaded.conformal is not None
    assert loaded.conformal.to_dict() == calibrated.conformal.to_dict()
    few = CalibratedModel.calibrate(
        model, [lc.case for lc in val[:30]], [lc.label for lc in val[:30]], alpha=0.01
    )
    assert few.conformal is None  # 30 cases cannot support a 99% set
