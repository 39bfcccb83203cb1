"""Explanations of a diagnosis and how faithful they are.

* :mod:`~dxkit.explain.tokens`: integrated gradients over the words a transformer read;
* :mod:`~dxkit.explain.occlusion`: word occlusion of the notes, for any model;
* :mod:`~dxkit.explain.structured`: occlusion of age, sex, history, lifestyle, readings;
* :mod:`~dxkit.explain.evidence`: the supporting and opposing evidence per condition;
* :mod:`~dxkit.explain.faithfulness`: ERASER comprehensiveness and sufficiency.

Importing this package loads no model and no deep-learning library; torch and captum are
imported when integrated gradients first run.
"""

from dxkit.explain.evidence import ConditionEvidence, EvidenceItem, explain_case
from dxkit.explain.faithfulness import FaithfulnessReport, faithfulness
from dxkit.explain.occlusion import occlusion
from dxkit.explain.structured import FeatureWeight, StructuredAttribution, structured_attributions
from dxkit.explain.tokens import integrated_gradients
from dxkit.explain.words import TokenAttribution, WordWeight

__all__ = [
    "ConditionEvidence",
    "EvidenceItem",
    "FaithfulnessReport",
    "FeatureWeight",
    "StructuredAttribution",
    "TokenAttribution",
    "WordWeight",
    "explain_case",
    "faithfulness",
    "integrated_gradients",
    "occlusion",
    "structured_attributions",
]
