"""Generative LLM assistance: a re-ranked differential, grounded narratives, reports.

The statistical model stays the source of truth: an LLM (any OpenAI-compatible server,
configured with ``DXKIT_LLM_*``) may re-rank, add a few knowledge-base conditions and
ask follow-up questions, and everything it says is validated, grounded in the case and
combined with a weight fitted on validation data. Every output also has a template-only
form, so reports work with no LLM at all.
"""

from dxkit.llm.assist import AssistResult, assist_differential, request_assessment
from dxkit.llm.combine import WeightFit, combine_probabilities, fit_weight, rank_distribution
from dxkit.llm.grounding import is_grounded
from dxkit.llm.narrative import Narrative, PatientSummary, clinician_narrative, patient_summary

__all__ = [
    "AssistResult",
    "Narrative",
    "PatientSummary",
    "WeightFit",
    "assist_differential",
    "clinician_narrative",
    "combine_probabilities",
    "fit_weight",
    "is_grounded",
    "patient_summary",
    "rank_distribution",
    "request_assessment",
]
