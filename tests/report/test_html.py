"""The self-contained HTML report: figures, token highlighting, sections, output paths."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dxkit.calibrate.temperature import CalibratedModel
from dxkit.cases.schema import LabeledCase
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.errors import InputError
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.models.tfidf import TfidfModel
from dxkit.report.html import (
    ExplainedExample,
    ReportFigures,
    check_output_file,
    compute_figures,
    render_html,
    render_note,
    render_tokens,
    write_html_report,
)
from dxkit.report.model_card import ModelInfo
from dxkit.report.plots import CoveragePoint, coverage_curve, most_confused

PNG = "data:image/png;base64,"


@pytest.fixture(scope="module")
def cohort(tiny_kb: KnowledgeBase) -> list[LabeledCase]:
    return CohortGenerator(CohortConfig(n=200, seed=4), tiny_kb).generate()


@pytest.fixture(scope="module")
def calibrated(cohort: list[LabeledCase]) -> CalibratedModel:
    train, held = cohort[:140], cohort[140:]
    inner = TfidfModel().fit([lc.case for lc in train], [lc.label for lc in train])
    return CalibratedModel.calibrate(inner, [lc.case for lc in held], [lc.label for lc in held])


def _metrics() -> dict[str, Any]:
    return {
        "n": 40, "top1": 0.8123, "top3": 0.95, "ece": 0.0456, "alpha": 0.1, "coverage": 0.9,
        "mean_set_size": 1.7, "abstain_rate": 0.05, "ece_before": 0.2,
        "subgroups": {
            "sex": {"top1": {"values": {"female": 0.9, "male": 0.6}, "n": {"female": 20,
                                                                            "male": 20}}},
            "largest_gap": {"top1": {"attribute": "sex", "gap": 0.3, "max_group": "female",
                                     "min_group": "male"}},
        },
        "coverage_by_group": {
            "sex": {"coverage": {"values": {"female": 0.95, "male": 0.8},
                                 "n": {"female": 20, "male": 20}}},
            "largest_gap": {},
            "under_covered": [{"attribute": "sex", "group": "male", "coverage": 0.8, "n": 20,
                               "small": False}],
        },
    }  # fmt: skip


def _info() -> ModelInfo:
    return ModelInfo("m", "tfidf", "0.1.0", 3, temperature=1.5, alpha=0.1)


def test_render_tokens_colours_by_sign_and_escapes() -> None:
    out = render_tokens([("fever", 0.4), ("<script>", -0.2), ("cough", 0.0)])
    assert 'rgba(0,160,0,1.00)" title="+0.4000">fever' in out
    assert 'rgba(200,0,0,0.50)" title="-0.2000">&lt;script&gt;' in out
    assert "<script>" not in out
    assert render_tokens([]) == ""


def test_render_note_shades_evidence_in_place_and_escapes() -> None:
    out = render_note("Fever <b>and</b> no rash.", [("fever", 0.4), ("rash", -0.4)])
    assert out.startswith('<span class="tok" style="background:rgba(0,160,0,1.00)"')
    assert ">Fever</span> &lt;b&gt;and&lt;/b&gt; no <span" in out
    assert 'rgba(200,0,0,1.00)" title="-0.4000">rash.</span>' in out
    assert render_note("nothing here", []) == "nothing here"


def test_most_confused_keeps_labels_with_errors() -> None:
    labels = ["a", "b", "c", "d"]
    y = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3]
    pred = [1, 1, 0, 0, 1, 2, 3, 3, 3, 3]  # a<->b confused, c and d always right
    names, m = most_confused(y, pred, labels, top=2)
    assert names == ["a", "b"]
    assert m.tolist() == [[1, 2], [1, 1]]


def test_coverage_curve_trades_coverage_for_set_size() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 600)
    p = rng.dirichlet(np.ones(5), 600)
    p[np.arange(600), y] += 0.2  # informative but far from perfect
    p /= p.sum(axis=1, keepdims=True)
    pts = coverage_curve(p, y, (0.01, 0.1, 0.5))
    assert [pt.alpha for pt in pts] == [0.01, 0.1, 0.5]
    assert pts[0].coverage >= pts[1].coverage >= pts[2].coverage
    assert pts[0].mean_set_size > pts[2].mean_set_size
    assert abs(pts[1].coverage - 0.9) < 0.06
    assert pts[0].n_fit + pts[0].n_test == 600
    # alphas too small for the fitting half are skipped, not fitted to an infinite quantile
    assert [pt.alpha for pt in coverage_curve(p[:20], y[:20], (0.01, 0.5))] == [0.5]


def test_compute_figures_draws_before_and_after(
    calibrated: CalibratedModel, cohort: list[LabeledCase]
) -> None:
    figures = compute_figures(calibrated, cohort[140:])
    assert figures.n_cases == 60 and figures.has_before
    for uri in (figures.reliability, figures.confusion, figures.coverage):
        assert uri is not None and uri.startswith(PNG)
        assert base64.b64decode(uri[len(PNG) :])[:8] == b"\x89PNG\r\n\x1a\n"
    assert figures.coverage_points and figures.coverage_points[0].n_test == 30
    assert compute_figures(calibrated, []).reliability is None


def test_render_html_has_every_section_and_no_external_links() -> None:
    figures = ReportFigures(
        40, reliability=PNG + "AAAA", coverage_points=[CoveragePoint(0.1, 0.875, 1.6, 20, 20)]
    )
    example = ExplainedExample("c-1", "Pneumonia", "Pneumonia", 0.91, [("cough", 0.3)])
    page = render_html(_info(), _metrics(), figures, [example], "test <data>")
    for section in ("Model", "Metrics", "Reliability diagram", "Confusion matrix",
                    "Coverage vs set size", "Subgroups", "Example explanations"):  # fmt: skip
        assert f"<h2>{section}</h2>" in page
    assert "0.8123" in page and "0.0456" in page and "0.8750" in page
    assert "test &lt;data&gt;" in page
    assert "ece_before (calibration set)" in page
    assert "No confusion matrix (no cases to draw)" in page
    assert "not a substitute for clinical judgement" in page
    # the worse group of the largest gap is highlighted, the under-covered one flagged
    assert "<td class='num worst'>0.6000</td>" in page
    assert "male<span class='flag'>under-covered</span>" not in page
    assert "male <span class='flag'>under-covered</span>" in page
    assert "rgba(0,160,0,1.00)" in page
    assert not re.search(r"(src|href)=\"?https?:", page)
    assert "No explanations" in render_html(_info(), _metrics(), figures, [], "x")


def test_write_html_report_is_atomic_and_private(tmp_path: Path) -> None:
    out = tmp_path / "new" / "report.html"
    write_html_report(out, _info(), _metrics(), ReportFigures(0), [], "x")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert out.stat().st_mode & 0o077 == 0
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_check_output_file_refuses_directories_and_file_parents(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--html: expected a file path; found .* is a directory"):
        check_output_file(tmp_path, "--html")
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    with pytest.raises(InputError, match=r"--card: expected a path whose parent .* is a file"):
        check_output_file(blocker / "sub" / "card.md", "--card")
    check_output_file(tmp_path / "a" / "b" / "ok.html", "--html")  # creatable: fine
    assert not (tmp_path / "a").exists()
