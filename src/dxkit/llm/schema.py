"""What an LLM may answer: JSON schemas sent for constrained decoding, pydantic to check.

Why both: a server with constrained decoding (vLLM, llama.cpp) can only produce instances
of the schema; a server without it may produce anything, and pydantic then rejects it.
The condition names are an ``enum`` of the knowledge base, so a constrained model cannot
name a condition dxkit does not know; an unconstrained one that does is rejected later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ADDITIONS = 3
MAX_QUESTIONS = 5
MAX_SENTENCES = 6


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RankedName(_Out):
    """One condition of the LLM's ranking, by knowledge-base name or ICD-10 code."""

    condition: str = Field(min_length=1, max_length=200)


class Addition(_Out):
    """A condition the model missed, with the findings of the case that support it."""

    condition: str = Field(min_length=1, max_length=200)
    evidence: list[str] = Field(min_length=1, max_length=3)


class Assessment(_Out):
    """The LLM's view of a differential: ranking, additions, follow-up questions."""

    ranking: list[RankedName] = Field(min_length=1, max_length=20)
    additions: list[Addition] = Field(default_factory=list, max_length=MAX_ADDITIONS)
    follow_up_questions: list[str] = Field(default_factory=list, max_length=MAX_QUESTIONS)


class NarrativeSentence(_Out):
    """A sentence and the findings it cites (each must be found in the case)."""

    text: str = Field(min_length=1, max_length=400)
    findings: list[str] = Field(default_factory=list, max_length=4)


class NarrativeOut(_Out):
    """The clinician narrative as cited sentences."""

    sentences: list[NarrativeSentence] = Field(min_length=1, max_length=MAX_SENTENCES)


class SummaryOut(_Out):
    """The patient summary as short sentences (safety wording is added by dxkit)."""

    sentences: list[str] = Field(min_length=1, max_length=MAX_SENTENCES)


def _string(max_length: int = 200) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def assessment_schema(names: Sequence[str], max_ranked: int) -> dict[str, Any]:
    """JSON schema of :class:`Assessment` with conditions restricted to ``names``."""
    condition = {"type": "string", "enum": sorted(set(names))}
    return _object(
        {
            "ranking": {
                "type": "array",
                "items": _object({"condition": condition}),
                "minItems": 1,
                "maxItems": max_ranked,
            },
            "additions": {
                "type": "array",
                "items": _object(
                    {
                        "condition": condition,
                        "evidence": {
                            "type": "array",
                            "items": _string(),
                            "minItems": 1,
                            "maxItems": 3,
                        },
                    }
                ),
                "maxItems": MAX_ADDITIONS,
            },
            "follow_up_questions": {
                "type": "array",
                "items": _string(),
                "maxItems": MAX_QUESTIONS,
            },
        }
    )


def narrative_schema() -> dict[str, Any]:
    """JSON schema of :class:`NarrativeOut`."""
    sentence = _object(
        {
            "text": _string(400),
            "findings": {"type": "array", "items": _string(), "maxItems": 4},
        }
    )
    return _object(
        {
            "sentences": {
                "type": "array",
                "items": sentence,
                "minItems": 1,
                "maxItems": MAX_SENTENCES,
            }
        }
    )


def summary_schema() -> dict[str, Any]:
    """JSON schema of :class:`SummaryOut`."""
    return _object(
        {
            "sentences": {
                "type": "array",
                "items": _string(300),
                "minItems": 1,
                "maxItems": MAX_SENTENCES,
            }
        }
    )
