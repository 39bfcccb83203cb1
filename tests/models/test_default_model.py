from __future__ import annotations

from pathlib import Path

import pytest

from dxkit.calibrate.temperature import CalibratedModel
from dxkit.cases.schema import Case
from dxkit.cases.synthetic import CohortConfig
from dxkit.models import default


def test_default_model_is_trained_once_then_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DXKIT_HOME", str(tmp_path))
    monkeypatch.setattr(default, "DEFAULT_COHORT", CohortConfig(n=400, seed=1))
    model = default.load_default_model()
    target = default.default_model_dir()
    assert target.parent == tmp_path
    assert (target / "dxkit-model.json").is_file()
    assert isinstance(model, CalibratedModel)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".training-")]
    stamp = (target / "dxkit-model.json").stat().st_mtime_ns
    again = default.load_default_model()  # from the cache: no retraining
    assert (target / "dxkit-model.json").stat().st_mtime_ns == stamp
    case = Case(case_id="c", notes="itchy red rash on the elbows")
    assert again.predict_proba([case]).shape == (1, len(model.labels))
