"""Word segmentation of notes and the span edits that occlusion and faithfulness make."""

from __future__ import annotations

import pytest

from dxkit.errors import InputError
from dxkit.explain.words import (
    TokenAttribution,
    WordWeight,
    check_targets,
    delete_spans,
    display_word,
    keep_spans,
    note_word_spans,
)


def test_english_words_keep_their_punctuation_in_the_span() -> None:
    notes = "Fever, cough - no rash."
    spans = note_word_spans(notes)
    assert [notes[s:e] for s, e in spans] == ["Fever,", "cough", "no", "rash."]
    assert [display_word(notes, s) for s in spans] == ["Fever", "cough", "no", "rash"]


def test_chinese_runs_are_cut_into_words() -> None:
    notes = "发热三天，咳嗽。 cough"
    words = [notes[s:e] for s, e in note_word_spans(notes)]
    assert "咳嗽" in words
    assert "，" not in words and "。" not in words
    assert words[-1] == "cough"
    assert "".join(words[:-1]).startswith("发热")


def test_delete_and_keep_spans() -> None:
    notes = "fever and dry cough"
    assert delete_spans(notes, [(6, 9), (10, 13)]) == "fever cough"
    assert delete_spans(notes, [(0, 9), (6, 13)]) == "cough"  # overlapping spans
    assert keep_spans(notes, [(14, 19), (0, 5)]) == "fever cough"
    assert delete_spans(notes, []) == notes


def test_attribution_views() -> None:
    att = TokenAttribution(
        target=1,
        words=(WordWeight("cough", 0.3, (0, 5)), WordWeight("high", -0.1, None)),
        method="integrated_gradients",
        delta=0.01,
    )
    assert att.pairs() == [("cough", 0.3), ("high", -0.1)]
    assert [w.word for w in att.note_words()] == ["cough"]


def test_check_targets_errors_name_counts_and_indices() -> None:
    assert check_targets([0, 2], 2, 3) == [0, 2]
    with pytest.raises(InputError, match=r"one class index per case \(2\); found 1 targets"):
        check_targets([0], 2, 3)
    with pytest.raises(InputError, match=r"class indices in \[0, 2\]; found index 3"):
        check_targets([0, 3], 2, 3)
