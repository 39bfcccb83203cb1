"""Tiny real models for the explanation tests: a keyword TF-IDF model and a random BERT."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dxkit.cases.schema import Case
from dxkit.features.text import case_to_text
from dxkit.models.tfidf import TfidfConfig, TfidfModel

FILLER = [
    "patient",
    "reports",
    "feeling",
    "unwell",
    "since",
    "yesterday",
    "tired",
    "worried",
    "mild",
    "discomfort",
    "at",
    "home",
    "seen",
    "today",
    "by",
    "the",
    "nurse",
    "who",
    "noted",
    "symptoms",
    "and",
    "asked",
    "about",
    "recent",
    "travel",
]
KEYWORDS = {"pneumonia": "cough", "eczema": "rash"}


def keyword_case(i: int, label: str, rng: random.Random) -> Case:
    """Filler words with the label's keyword at a random place: the keyword decides."""
    words = rng.sample(FILLER, 8)
    words.insert(rng.randrange(len(words) + 1), KEYWORDS[label])
    return Case(case_id=f"{label}-{i}", notes=" ".join(words))


@pytest.fixture(scope="session")
def keyword_cases() -> list[tuple[Case, str]]:
    """Forty cases whose class is fixed by one keyword in the notes."""
    rng = random.Random(0)
    return [(keyword_case(i, label, rng), label) for i in range(20) for label in KEYWORDS]


@pytest.fixture(scope="session")
def keyword_model(keyword_cases: list[tuple[Case, str]]) -> TfidfModel:
    """A TF-IDF model trained where one keyword determines the class."""
    cases = [c for c, _ in keyword_cases]
    labels = [y for _, y in keyword_cases]
    return TfidfModel(TfidfConfig(char_ngrams=(3, 4))).fit(cases, labels)


VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    ".",
    ",",
    ":",
    "(",
    ")",
    ";",
    "fever",
    "cough",
    "rash",
    "itch",
    "no",
    "pain",
    "chest",
    "the",
    "and",
    "of",
    "since",
    "day",
    "##s",
    "##ing",
    "age",
    "sex",
    "female",
    "male",
    "older",
    "adult",
    "observations",
    "heart",
    "rate",
    "high",
    "normal",
    "body",
    "temperature",
    "cel",
    "/",
    "min",
    "128",
    "38",
    "5",
    "9",
    "_",
    "heart_rate_high",
]


class TinyEncoder:
    """The encoder-model interface over a tiny random BERT (a real network, no weights)."""

    def __init__(self, folder: Path, labels: Sequence[str], seed: int = 0) -> None:
        import torch
        from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

        vocab = folder / "vocab.txt"
        vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
        self.tokenizer = BertTokenizerFast.from_pretrained(str(folder))
        torch.manual_seed(seed)
        config = BertConfig(
            vocab_size=len(VOCAB),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            num_labels=len(labels),
            initializer_range=0.5,  # large random weights: probabilities far from uniform
        )
        self.network = BertForSequenceClassification(config).eval()
        self.labels = list(labels)
        self.max_length = 128

    def case_texts(self, cases: Sequence[Case]) -> list[str]:
        return [case_to_text(c) for c in cases]

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return dict(batch)

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        import torch

        with torch.no_grad():
            logits = self.network(**self.encode(self.case_texts(cases))).logits  # (n, C)
        out: np.ndarray = torch.softmax(logits, dim=-1).numpy().astype(float)
        return out


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> TinyEncoder:
    """A random three-class BERT encoder with a WordPiece tokenizer."""
    return TinyEncoder(tmp_path_factory.mktemp("bert"), ["pneumonia", "eczema", "cystitis"])
