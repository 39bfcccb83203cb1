"""A seeded synthetic cohort drawn from the knowledge base: dxkit's embedded default data.

Each case samples a condition (prevalence prior flattened by ``balance`` so rare,
time-critical conditions are represented), demographics from the condition's age/sex
modifiers, symptoms from their likelihoods, pertinent negatives, comorbidities, risk
factors and device observations, then writes a note in English or Chinese in one of
several styles. Noise is configurable (typos, missing fields, irrelevant findings,
implausible device readings, label noise) because real data has all of them.

The reference differential of each case is the knowledge-base posterior given the
symptoms that were sampled (naive Bayes over all conditions), so models can be trained
and scored on differentials as with DDXPlus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dxkit.cases.notes import add_typos, write_note
from dxkit.cases.schema import (
    AGE_BANDS,
    Case,
    History,
    LabeledCase,
    Lifestyle,
    Observation,
    age_band,
)
from dxkit.knowledge.loader import KnowledgeBase, load_knowledge_base
from dxkit.knowledge.schema import Condition
from dxkit.quality.catalogue import ObservationSpec, catalogue_by_key, catalogue_by_loinc

VITALS = ("temperature", "heart_rate", "respiratory_rate", "systolic_bp", "spo2")
# Share of each age band among GP + ED attendances (order of magnitude, England HES/QResearch).
_BAND_BASE = {"0-4": 0.10, "5-17": 0.12, "18-39": 0.28, "40-64": 0.30, "65+": 0.20}
_DEVICES = {
    "temperature": ["Welch Allyn SureTemp", "Braun ThermoScan", "bedside monitor"],
    "heart_rate": ["Philips IntelliVue MX450", "Omron HEM-7120", "bedside monitor"],
    "respiratory_rate": ["Philips IntelliVue MX450", "nurse count"],
    "systolic_bp": ["Omron HEM-7120", "Philips IntelliVue MX450"],
    "spo2": ["Masimo Rad-97 pulse oximeter", "Nonin finger oximeter"],
}
_ALT_UNITS = {
    "temperature": "[degF]",
    "glucose": "mg/dL",
    "weight": "[lb_av]",
    "creatinine": "umol/L",
}


@dataclass(frozen=True)
class NoiseConfig:
    """How messy the generated data is; all rates are probabilities in [0, 1]."""

    typo_rate: float = 0.02  # per word, English notes
    missing_rate: float = 0.1  # per optional field (age, sex, lifestyle, history)
    irrelevant_rate: float = 0.3  # chance of one unrelated finding in the note
    implausible_rate: float = 0.0  # chance of one physically impossible device reading
    label_noise: float = 0.0  # chance the recorded label is another condition
    alt_unit_rate: float = 0.2  # chance an observation is recorded in a non-canonical unit

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"NoiseConfig.{name} must be in [0, 1]; found {value}")


@dataclass(frozen=True)
class CohortConfig:
    """What to generate: size, seed, language mix and prior flattening."""

    n: int = 3000
    seed: int = 0
    zh_fraction: float = 0.2
    balance: float = 0.8  # 0 = true prevalence, 1 = every condition equally often
    comorbidity_rate: float = 0.2
    revisit_rate: float = 0.05  # chance a case is a second visit of an earlier patient
    notes_only_rate: float = 0.3  # chance of a message with no device data (portal, phone)
    conditions: tuple[str, ...] = ()  # restrict to these ids/names (default: all)
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"CohortConfig.n must be >= 1; found {self.n}")
        for name in (
            "zh_fraction",
            "balance",
            "comorbidity_rate",
            "revisit_rate",
            "notes_only_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"CohortConfig.{name} must be in [0, 1]; found {value}")


def kb_posterior(
    kb: KnowledgeBase, present: set[str], absent: set[str], band: str, sex: str
) -> dict[str, float]:
    """Naive-Bayes posterior over conditions given symptom findings (leak p = 0.01).

    This is the reference differential of a synthetic case: what the knowledge base itself
    would conclude from the findings that were written down.
    """
    names, logp = [], []
    for cond in kb.conditions.values():
        prior = cond.prior(band, sex)
        if prior <= 0:
            continue
        likelihood = {link.id: link.p for link in cond.symptoms}
        score = np.log(prior)
        score += sum(np.log(likelihood.get(s, 0.01)) for s in present)
        score += sum(np.log(1.0 - min(likelihood.get(s, 0.01), 0.95)) for s in absent)
        names.append(cond.name)
        logp.append(score)
    weights = np.exp(np.asarray(logp) - max(logp))
    weights /= weights.sum()
    return {n: float(round(w, 4)) for n, w in zip(names, weights, strict=True) if w >= 0.01}


class CohortGenerator:
    """Draws :class:`LabeledCase` objects; one instance per (config, knowledge base)."""

    def __init__(self, config: CohortConfig, kb: KnowledgeBase | None = None) -> None:
        self.config = config
        self.kb = kb or load_knowledge_base()
        self.rng = np.random.default_rng(config.seed)
        self.specs = catalogue_by_key()
        pool = list(self.kb.conditions.values())
        if config.conditions:
            pool = [self.kb.condition_by_name(name) for name in config.conditions]
        self.pool = pool
        prevalence = np.array([c.prevalence for c in pool])
        weights = prevalence ** (1.0 - config.balance)
        self.weights = weights / weights.sum()
        self.chronic = [c for c in self.kb.conditions.values() if c.triage.value == "routine"]
        self.all_symptoms = sorted(self.kb.symptoms)

    def generate(self) -> list[LabeledCase]:
        """The whole cohort, reproducible for a given seed and knowledge base."""
        cases: list[LabeledCase] = []
        for i in range(self.config.n):
            earlier = cases[int(self.rng.integers(len(cases)))] if cases else None
            revisit = earlier is not None and self.rng.random() < self.config.revisit_rate
            cases.append(self._one(i, earlier if revisit else None))
        return cases

    def _one(self, index: int, revisit_of: LabeledCase | None) -> LabeledCase:
        rng, noise = self.rng, self.config.noise
        if revisit_of is not None:
            cond = self.kb.condition_by_name(revisit_of.label)
            age, sex = revisit_of.case.age, revisit_of.case.sex.value
            patient_id = revisit_of.case.patient_id or revisit_of.case.case_id
        else:
            cond = self.pool[int(rng.choice(len(self.pool), p=self.weights))]
            age, sex = self._demographics(cond)
            patient_id = f"P{self.config.seed}-{index:06d}"
        band = age_band(age) if age is not None else "18-39"  # revisit with age missing
        present, absent = self._symptoms(cond)
        if rng.random() < noise.irrelevant_rate:
            present.append(self.all_symptoms[int(rng.integers(len(self.all_symptoms)))])
            absent = [s for s in absent if s not in present]
        history, lifestyle = self._history(cond)
        language = "zh" if rng.random() < self.config.zh_fraction else "en"
        note = write_note(
            present=[self.kb.symptoms[s] for s in dict.fromkeys(present)],
            absent=[self.kb.symptoms[s] for s in absent],
            history=history if language == "en" else [],
            age=age,
            sex=sex,
            language=language,
            rng=rng,
        )
        if language == "en":
            note = add_typos(note, noise.typo_rate, rng)
        notes_only = rng.random() < self.config.notes_only_rate
        recorded_age = None if rng.random() < noise.missing_rate else age
        recorded_sex = "unknown" if rng.random() < noise.missing_rate else sex
        case = Case(
            case_id=f"syn-{self.config.seed}-{index:06d}",
            patient_id=patient_id,
            age=recorded_age,
            sex=recorded_sex,
            lifestyle=lifestyle if rng.random() >= noise.missing_rate else Lifestyle(),
            history=History(past_conditions=history)
            if rng.random() >= noise.missing_rate
            else History(),
            notes=note,
            observations=[] if notes_only else self._observations(cond),
            deidentified=True,  # generated from the knowledge base: no identifiers
        )
        label = cond.name
        if rng.random() < noise.label_noise:
            label = self.pool[int(rng.integers(len(self.pool)))].name
        differential = kb_posterior(self.kb, set(present), set(absent), band, sex)
        return LabeledCase(case=case, label=label, differential=differential)

    def _demographics(self, cond: Condition) -> tuple[float, str]:
        rng = self.rng
        bands = [b for b in AGE_BANDS if b[0] in _BAND_BASE]
        w = np.array([_BAND_BASE[b[0]] * cond.age_weights.get(b[0], 1.0) for b in bands])
        _, low, high = bands[int(rng.choice(len(bands), p=w / w.sum()))]
        age = float(int(rng.uniform(low, min(high, 97))))
        sw = np.array([cond.sex_weights.get("female", 1.0), cond.sex_weights.get("male", 1.0)])
        sex = ("female", "male")[int(rng.choice(2, p=sw / sw.sum()))]
        return age, sex

    def _symptoms(self, cond: Condition) -> tuple[list[str], list[str]]:
        rng = self.rng
        links = sorted(cond.symptoms, key=lambda link: -link.p)
        present = [link.id for link in links if rng.random() < link.p]
        for link in links:  # at least two findings, the most typical first
            if len(present) >= 2:
                break
            if link.id not in present:
                present.append(link.id)
        rng.shuffle(present[1:])
        linked = {link.id for link in cond.symptoms if link.p >= 0.05}
        candidates = [s for s in self.all_symptoms if s not in linked and s not in present]
        n_neg = int(rng.integers(0, 3))
        absent = [candidates[int(i)] for i in rng.choice(len(candidates), n_neg, replace=False)]
        return present, absent

    def _history(self, cond: Condition) -> tuple[list[str], Lifestyle]:
        rng = self.rng
        history = [rf for rf in cond.risk_factors if rng.random() < 0.3]
        if self.chronic and rng.random() < self.config.comorbidity_rate:
            other = self.chronic[int(rng.integers(len(self.chronic)))]
            if other.id != cond.id:
                history.append(other.name.lower())
        smoking_linked = any("smok" in rf.lower() for rf in cond.risk_factors)
        smoke_p = 0.5 if smoking_linked else 0.15
        lifestyle = Lifestyle(
            smoking=str(
                rng.choice(["current", "former", "never"], p=[smoke_p, 0.2, 0.8 - smoke_p])
            ),
            alcohol=_choice(rng, ["none", "moderate", "heavy"], [0.4, 0.5, 0.1]),
            activity=str(rng.choice(["sedentary", "moderate", "active"])),
        )
        return history, lifestyle

    def _observations(self, cond: Condition) -> list[Observation]:
        rng, noise = self.rng, self.config.noise
        values: dict[str, float] = {}
        for key in VITALS:
            if rng.random() < 0.75:
                values[key] = _uniform(rng, self.specs[key].normal)
        for key, shift in cond.observations.items():
            if rng.random() < shift.p:
                values[key] = float(rng.uniform(*shift.range))
            elif key in VITALS or rng.random() < 0.4:
                values[key] = _uniform(rng, self.specs[key].normal)
        if "systolic_bp" in values:
            values["diastolic_bp"] = values["systolic_bp"] * float(rng.uniform(0.55, 0.7))
        observations = [self._observation(key, value) for key, value in values.items()]
        if observations and rng.random() < noise.implausible_rate:
            i = int(rng.integers(len(observations)))
            spec = catalogue_by_loinc()[observations[i].code]
            bad = spec.plausible[1] * 1.5 + 10
            observations[i] = observations[i].model_copy(update={"value": bad, "unit": spec.unit})
        return observations

    def _observation(self, key: str, value: float) -> Observation:
        spec: ObservationSpec = self.specs[key]
        unit = spec.unit
        alt = _ALT_UNITS.get(key)
        if alt and self.rng.random() < self.config.noise.alt_unit_rate:
            conv = spec.units[alt]
            value, unit = (value - conv.offset) / conv.factor, alt
        source = _DEVICES.get(key, ["hospital laboratory"])
        return Observation(
            code=spec.loinc,
            value=round(value, 2),
            unit=unit,
            source=str(self.rng.choice(source)),
        )


def _choice(rng: np.random.Generator, options: list[str], p: list[float]) -> str:
    return options[int(rng.choice(len(options), p=p))]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    margin = (high - low) * 0.15
    return float(rng.uniform(low + margin, high - margin)) if high > low else float(low)


def generate_cohort(config: CohortConfig | None = None) -> list[LabeledCase]:
    """Generate a cohort with the shipped knowledge base (the embedded default data set)."""
    return CohortGenerator(config or CohortConfig()).generate()
