"""Shared fixtures: tiny in-memory cases and the optional public data sets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dxkit.knowledge.loader import KnowledgeBase
from dxkit.knowledge.schema import Condition, Symptom

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# `dxkit train`/`evaluate` record runs in MLflow by default; tests that check tracking
# switch it on with their own throw-away store, the rest stay fast and leave no store.
os.environ.setdefault("DXKIT_TRACK", "0")

SHARED_DATA = Path(
    os.environ.get(
        "DXKIT_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data sets beside the repo; tests that need them skip visibly without."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data sets not found at {SHARED_DATA} (set DXKIT_SHARED_DATA)")
    return SHARED_DATA


def _tiny_kb() -> KnowledgeBase:
    """Three conditions over a handful of symptoms: enough to exercise every stage."""
    symptoms = {
        s["id"]: Symptom.model_validate(s)
        for s in [
            {"id": "fever", "en": ["fever", "high temperature"], "zh": ["发热", "发烧"]},
            {"id": "cough", "en": ["cough", "coughing"], "zh": ["咳嗽"]},
            {"id": "breathless", "en": ["shortness of breath", "breathlessness"], "zh": ["气促"]},
            {"id": "rash", "en": ["rash", "spots"], "zh": ["皮疹"]},
            {"id": "itch", "en": ["itching", "itchy skin"], "zh": ["瘙痒"]},
            {"id": "dysuria", "en": ["burning on urination", "dysuria"], "zh": ["尿痛"]},
            {"id": "frequency", "en": ["urinary frequency", "peeing often"], "zh": ["尿频"]},
            {"id": "chest_pain", "en": ["chest pain"], "zh": ["胸痛"]},
        ]
    }

    def cond(cid: str, name: str, triage: str, links: dict[str, float], **kw: Any) -> Condition:
        return Condition.model_validate(
            {
                "id": cid,
                "name": name,
                "name_zh": name,
                "icd10": kw.pop("icd10", "J18.9"),
                "snomed": "233604007",
                "category": "test",
                "triage": triage,
                "prevalence": kw.pop("prevalence", 1.0),
                "symptoms": [{"id": k, "p": v} for k, v in links.items()],
                "sources": ["test fixture"],
                **kw,
            }
        )

    conditions = {
        c.id: c
        for c in [
            cond(
                "pneumonia",
                "Pneumonia",
                "urgent",
                {"fever": 0.8, "cough": 0.9, "breathless": 0.6, "chest_pain": 0.3},
                observations={"temperature": {"range": [38.2, 40.0], "p": 0.8}},
                risk_factors=["smoking"],
            ),
            cond(
                "eczema",
                "Eczema",
                "self-care",
                {"rash": 0.9, "itch": 0.9, "fever": 0.02},
                icd10="L30.9",
            ),
            cond(
                "cystitis",
                "Cystitis",
                "routine",
                {"dysuria": 0.9, "frequency": 0.8, "fever": 0.1},
                icd10="N30.0",
                sex_weights={"female": 3.0, "male": 0.3},
            ),
        ]
    }
    aliases = {a.lower(): c.id for c in conditions.values() for a in (c.id, c.name)}
    return KnowledgeBase("test", conditions, symptoms, aliases)


@pytest.fixture(scope="session")
def tiny_kb() -> KnowledgeBase:
    """A three-condition knowledge base built in memory."""
    return _tiny_kb()


def write_tiny_bert(directory: Path, words: tuple[str, ...] = ()) -> Path:
    """Save a tiny randomly initialised BERT and its tokenizer as a local HF directory.

    The vocabulary holds every lower-case letter and digit (also as ``##`` pieces), so
    any English text tokenises, plus ``words`` as whole pieces.
    """
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    punct = list(".,:;()/%+-_'")
    vocab = [*specials, *punct, *chars, *(f"##{c}" for c in chars), *words]
    directory.mkdir(parents=True, exist_ok=True)
    index = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    tokenizer = BertTokenizerFast(vocab=index, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT directory: the encoder's tests never need the real weights."""
    words = ("fever", "cough", "rash", "itching", "burning", "urination", "chest", "pain")
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), words)
