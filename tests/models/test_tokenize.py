"""Tokeniser: English words, jieba Chinese words, head+tail truncation, vocabulary."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dxkit.models.tokenize import (
    PAD,
    UNK,
    Vocabulary,
    chinese_words,
    has_chinese,
    tokenize,
    truncate_head_tail,
)


def test_english_tokens_are_lowercased_words_keeping_decimals_and_flags() -> None:
    assert tokenize("Temperature 38.5 Cel high temperature_high; SpO2 91%") == [
        "temperature",
        "38.5",
        "cel",
        "high",
        "temperature_high",
        "spo2",
        "91",
    ]


def test_chinese_is_segmented_into_words_in_text_order() -> None:
    tokens = tokenize("Fever患者咳嗽三天 cough")
    assert tokens[0] == "fever" and tokens[-1] == "cough"
    assert "咳嗽" in tokens
    assert "患者咳嗽三天" not in tokens  # segmented, not one run
    assert chinese_words("cough 患者咳嗽") == ["患者", "咳嗽"]
    assert has_chinese("头痛") and not has_chinese("headache")


def test_import_is_cheap_and_jieba_is_quiet() -> None:
    code = (
        "import sys; import dxkit.models.tokenize as t;"
        "assert 'jieba' not in sys.modules;"
        "t.tokenize('头痛'); assert 'jieba' in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "prefix dict" not in result.stderr


def test_truncation_keeps_head_and_tail() -> None:
    tokens = [str(i) for i in range(10)]
    assert truncate_head_tail(tokens, 5) == ["0", "1", "2", "8", "9"]
    assert truncate_head_tail(tokens, 1) == ["0"]
    assert truncate_head_tail(tokens, 20) == tokens
    with pytest.raises(ValueError, match="at least 1"):
        truncate_head_tail(tokens, 0)


def test_vocabulary_min_freq_cap_and_unknowns() -> None:
    docs = [["fever", "cough", "fever"], ["cough", "rash", "fever"]]
    vocab = Vocabulary.build(docs, min_freq=2)
    assert vocab.tokens == [PAD, UNK, "fever", "cough"]
    assert vocab.encode(["cough", "rash"]) == [3, 1]
    assert Vocabulary.build(docs, max_size=3).tokens == [PAD, UNK, "fever"]
    assert Vocabulary(vocab.to_list()).index == vocab.index
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary(["fever"])
