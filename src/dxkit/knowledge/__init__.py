"""The clinical knowledge base: conditions, symptoms and their links, kept as data.

Entries live in ``dxkit/resources/kb/*.yaml``; this package only validates and loads them.
"""

from dxkit.knowledge.loader import KnowledgeBase, load_knowledge_base
from dxkit.knowledge.schema import Condition, ObservationShift, Symptom, SymptomLink, Triage

__all__ = [
    "Condition",
    "KnowledgeBase",
    "ObservationShift",
    "Symptom",
    "SymptomLink",
    "Triage",
    "load_knowledge_base",
]
