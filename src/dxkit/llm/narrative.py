"""Grounded clinician narratives and plain-language patient summaries (en / zh).

Both exist in a template-only form built from the differential and the case, so every
report works without an LLM. With an LLM, the narrative's sentences must each cite
findings that are found in the case (:mod:`dxkit.llm.grounding`); ungrounded sentences
are dropped and counted. Patient summaries keep only short sentences in the requested
language. The safety wording (not a diagnosis; when to seek emergency care) is always
the fixed text for the triage level from ``resources/llm/safety.yaml``, appended by code:
nothing in the notes or the LLM's answer can change or remove it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from dxkit.cases.schema import Case
from dxkit.features.text import observation_phrases
from dxkit.knowledge.loader import load_knowledge_base
from dxkit.llm.grounding import CaseFacts, is_grounded
from dxkit.llm.schema import NarrativeOut, SummaryOut, narrative_schema, summary_schema
from dxkit.llm.texts import Lang, check_lang, llm_resource, messages_for, safety_text
from dxkit.models.llm import LLMClient, LLMUnavailable
from dxkit.report.differential import Differential

Source = Literal["llm", "template"]
MAX_WORDS_EN = 25  # plain reading level: short sentences (CDC Clear Communication Index)
MAX_CHARS_ZH = 60
_CJK = re.compile(r"[\u3400-\u9fff]")
_LANGUAGE = {"en": "English", "zh": "Simplified Chinese (简体中文)"}


@dataclass(frozen=True)
class Narrative:
    """The clinician narrative: grounded sentences, how many were dropped, safety text."""

    sentences: list[str]
    safety: list[str]
    source: Source = "template"
    dropped: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Narrative and safety text as one paragraph."""
        return " ".join([*self.sentences, *self.safety])


@dataclass(frozen=True)
class PatientSummary:
    """The patient summary in one language, with the fixed safety sentences last."""

    lang: Lang
    sentences: list[str]
    safety: list[str]
    source: Source = "template"
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Summary and safety text, joined as the language writes sentences."""
        return ("" if self.lang == "zh" else " ").join([*self.sentences, *self.safety])


def _listing(answer: Differential, top: int = 5) -> str:
    return "; ".join(f"{c.name} {c.probability:.0%}" for c in answer.conditions[:top])


def template_narrative(case: Case, answer: Differential) -> list[str]:
    """Narrative sentences built only from the case and the differential."""
    words = llm_resource("templates.yaml")["narrative"]
    out = []
    first = re.split(r"(?<=[.!?。！？])\s*", case.notes.strip())[0][:200].replace('"', "'")
    if first:
        out.append(words["presenting"].format(notes=first))
    abnormal = [
        p for p in observation_phrases(case, flag_keys=False) if p.endswith(("high", "low"))
    ]
    out.extend(f"{p[0].upper()}{p[1:]}." for p in abnormal)
    out.append(words["differential"].format(items=_listing(answer, 3)))
    top = answer.conditions[0] if answer.conditions else None
    if top is not None and top.supporting:
        items = ", ".join(item.feature for item in top.supporting[:5])
        out.append(words["evidence"].format(name=top.name, items=items))
    if answer.alpha is not None and answer.prediction_set:
        level = round((1 - answer.alpha) * 100)
        out.append(
            words["prediction_set"].format(level=level, items=", ".join(answer.prediction_set))
        )
    triage = answer.triage
    out.append(words["triage"].format(level=triage.level.value, reason=triage.reason))
    return out


def clinician_narrative(
    case: Case, answer: Differential, client: LLMClient | None = None
) -> Narrative:
    """The clinician narrative: the LLM's grounded sentences, else the template's.

    ``case`` must be the de-identified case when a client is given.
    """
    safety = safety_text(answer.triage.level, "en")
    template = template_narrative(case, answer)
    if client is None:
        return Narrative(template, safety)
    context = f"DIFFERENTIAL: {_listing(answer)}\nTRIAGE: {answer.triage.level.value}"
    try:
        reply = client.chat(
            messages_for("narrative", case, context), json_schema=narrative_schema()
        )
        parsed = NarrativeOut.model_validate(json.loads(reply.content))
    except LLMUnavailable as exc:
        return Narrative(template, safety, warnings=[f"LLM not used ({exc.kind})"])
    except (json.JSONDecodeError, ValidationError, TypeError):
        return Narrative(
            template, safety, warnings=["LLM answer was not valid JSON; template used"]
        )
    facts = CaseFacts(case)
    kept = [s.text for s in parsed.sentences if is_grounded(s.text, s.findings, facts)]
    dropped = len(parsed.sentences) - len(kept)
    notes = [f"{dropped} ungrounded sentence(s) dropped"] if dropped else []
    if not kept:
        return Narrative(template, safety, dropped=dropped, warnings=[*notes, "template used"])
    return Narrative(kept, safety, source="llm", dropped=dropped, warnings=notes)


def template_summary(answer: Differential, lang: Lang) -> list[str]:
    """Plain-language sentences from the template of ``lang``."""
    words = llm_resource("templates.yaml")["summary"][lang]
    kb = load_knowledge_base()

    def name(cond_name: str, label: str) -> str:
        entry = kb.resolve(label) or kb.resolve(cond_name)
        if entry is None:
            return cond_name
        return entry.name_zh if lang == "zh" else entry.name.lower()

    out = []
    if answer.conditions:
        top = answer.conditions[0]
        out.append(
            words["intro"].format(top=name(top.name, top.label), p=round(top.probability * 100))
        )
        others = [name(c.name, c.label) for c in answer.conditions[1:3]]
        if others:
            out.append(words["others"].format(others=words["joiner"].join(others)))
    out.append(words["level"].format(level=words["levels"][answer.triage.level.value]))
    return out


def _plain(sentence: str, lang: Lang) -> bool:
    """Short enough and in the right script to count as plain language."""
    has_cjk = bool(_CJK.search(sentence))
    if lang == "zh":
        return has_cjk and len(sentence) <= MAX_CHARS_ZH
    return not has_cjk and 0 < len(sentence.split()) <= MAX_WORDS_EN


def patient_summary(
    case: Case, answer: Differential, lang: str = "en", client: LLMClient | None = None
) -> PatientSummary:
    """The patient summary in ``lang`` ("en" or "zh"), safety wording always appended."""
    language = check_lang(lang)
    safety = safety_text(answer.triage.level, language)
    template = template_summary(answer, language)
    if client is None:
        return PatientSummary(language, template, safety)
    context = f"DIFFERENTIAL: {_listing(answer, 3)}\nTRIAGE: {answer.triage.level.value}"
    messages = messages_for("summary", case, context, language=_LANGUAGE[language])
    try:
        reply = client.chat(messages, json_schema=summary_schema())
        parsed = SummaryOut.model_validate(json.loads(reply.content))
    except LLMUnavailable as exc:
        return PatientSummary(language, template, safety, warnings=[f"LLM not used ({exc.kind})"])
    except (json.JSONDecodeError, ValidationError, TypeError):
        note = "LLM answer was not valid JSON; template used"
        return PatientSummary(language, template, safety, warnings=[note])
    kept = [s for s in parsed.sentences if _plain(s, language)]
    if not kept:
        note = "LLM sentences were not plain language in the requested language; template used"
        return PatientSummary(language, template, safety, warnings=[note])
    return PatientSummary(language, kept, safety, source="llm")
