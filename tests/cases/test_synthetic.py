from __future__ import annotations

import re

import pytest

from dxkit.cases.synthetic import CohortConfig, CohortGenerator, NoiseConfig, kb_posterior
from dxkit.knowledge.loader import KnowledgeBase


def _gen(kb: KnowledgeBase, **kw: object) -> CohortGenerator:
    return CohortGenerator(CohortConfig(**kw), kb)  # type: ignore[arg-type]


def test_same_seed_same_cohort(tiny_kb: KnowledgeBase) -> None:
    a = _gen(tiny_kb, n=40, seed=3).generate()
    b = _gen(tiny_kb, n=40, seed=3).generate()
    c = _gen(tiny_kb, n=40, seed=4).generate()
    assert [x.model_dump() for x in a] == [x.model_dump() for x in b]
    assert [x.case.notes for x in a] != [x.case.notes for x in c]


def test_cases_cover_conditions_and_languages(tiny_kb: KnowledgeBase) -> None:
    cohort = _gen(tiny_kb, n=300, seed=0, zh_fraction=0.3).generate()
    assert {lc.label for lc in cohort} == {"Pneumonia", "Eczema", "Cystitis"}
    zh = [lc for lc in cohort if re.search(r"[\u4e00-\u9fff]", lc.case.notes)]
    assert 0.15 < len(zh) / len(cohort) < 0.45
    assert all(lc.case.notes for lc in cohort)


def test_sex_weights_shift_demographics(tiny_kb: KnowledgeBase) -> None:
    cohort = _gen(tiny_kb, n=400, seed=1, noise=NoiseConfig(missing_rate=0)).generate()
    cystitis = [lc.case.sex.value for lc in cohort if lc.label == "Cystitis"]
    assert cystitis.count("female") > 3 * cystitis.count("male")


def test_condition_observations_are_shifted(tiny_kb: KnowledgeBase) -> None:
    cohort = _gen(tiny_kb, n=300, seed=2, noise=NoiseConfig(alt_unit_rate=0)).generate()

    def mean_temp(label: str) -> float:
        temps = [
            o.value
            for lc in cohort
            if lc.label == label
            for o in lc.case.observations
            if o.code == "8310-5"
        ]
        return sum(temps) / len(temps)

    assert mean_temp("Pneumonia") > mean_temp("Eczema") + 1.0


def test_differential_puts_true_condition_high(tiny_kb: KnowledgeBase) -> None:
    cohort = _gen(tiny_kb, n=100, seed=5, noise=NoiseConfig(irrelevant_rate=0)).generate()
    top = [max(lc.differential or {}, key=(lc.differential or {}).get) for lc in cohort]  # type: ignore[arg-type]
    agree = sum(t == lc.label for t, lc in zip(top, cohort, strict=True)) / len(cohort)
    assert agree > 0.9
    for lc in cohort:
        assert abs(sum((lc.differential or {}).values()) - 1) < 0.05


def test_posterior_reacts_to_findings(tiny_kb: KnowledgeBase) -> None:
    post = kb_posterior(tiny_kb, {"dysuria", "frequency"}, set(), "18-39", "female")
    assert max(post, key=post.get) == "Cystitis"  # type: ignore[arg-type]


def test_noise_knobs(tiny_kb: KnowledgeBase) -> None:
    noisy = NoiseConfig(missing_rate=1.0, label_noise=0.0, implausible_rate=1.0)
    cohort = _gen(tiny_kb, n=30, seed=0, noise=noisy).generate()
    assert all(lc.case.age is None and lc.case.sex.value == "unknown" for lc in cohort)
    from dxkit.quality.catalogue import catalogue_by_loinc

    specs = catalogue_by_loinc()
    impossible = [
        lc
        for lc in cohort
        if any(o.value > specs[o.code].plausible[1] for o in lc.case.observations)
    ]
    assert len(impossible) == sum(1 for lc in cohort if lc.case.observations)
    flipped = _gen(tiny_kb, n=200, seed=0, noise=NoiseConfig(label_noise=0.5)).generate()
    clean = _gen(tiny_kb, n=200, seed=0, noise=NoiseConfig(label_noise=0.0)).generate()
    assert sum(a.label != b.label for a, b in zip(flipped, clean, strict=True)) > 20


def test_typos_change_english_text(tiny_kb: KnowledgeBase) -> None:
    typo = _gen(tiny_kb, n=50, seed=0, zh_fraction=0, noise=NoiseConfig(typo_rate=0.5)).generate()
    clean = _gen(tiny_kb, n=50, seed=0, zh_fraction=0, noise=NoiseConfig(typo_rate=0)).generate()
    assert sum(a.case.notes != b.case.notes for a, b in zip(typo, clean, strict=True)) > 25


def test_revisits_share_patient(tiny_kb: KnowledgeBase) -> None:
    cohort = _gen(tiny_kb, n=200, seed=0, revisit_rate=0.3).generate()
    patients = [lc.case.patient_id for lc in cohort]
    assert len(set(patients)) < len(patients)


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"typo_rate must be in \[0, 1\]; found 2"):
        NoiseConfig(typo_rate=2)
    with pytest.raises(ValueError, match="n must be >= 1"):
        CohortConfig(n=0)
