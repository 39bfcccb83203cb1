"""Integrated gradients on a tiny random BERT: words, completeness, batching, calibration."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dxkit.calibrate.temperature import CalibratedModel
from dxkit.cases.schema import Case, Observation
from dxkit.errors import InputError
from dxkit.explain.tokens import integrated_gradients, unwrap_encoder
from dxkit.explain.words import display_word, note_word_spans
from dxkit.models.tfidf import TfidfModel

CASE = Case(
    case_id="1",
    age=70,
    sex="F",
    notes="Fever and coughing since day, chest pain.",
    observations=[Observation(code="8867-4", value=128, unit="/min")],
)


def target_probability(
    encoder: Any, case: Case, target: int, temperature: float = 1.0
) -> tuple[float, float]:
    """p(target) for the case's input ids and for the [PAD] baseline IG starts from."""
    batch = encoder.encode(encoder.case_texts([case]))
    ids = batch["input_ids"]
    tok = encoder.tokenizer
    keep = torch.tensor([tok.cls_token_id, tok.sep_token_id])
    baseline = torch.where(torch.isin(ids, keep), ids, tok.pad_token_id)
    out = []
    with torch.no_grad():
        for x in (ids, baseline):
            logits = encoder.network(
                input_ids=x,
                attention_mask=batch["attention_mask"],
                token_type_ids=batch["token_type_ids"],
            ).logits
            out.append(float(torch.softmax(logits / temperature, -1)[0, target]))
    return out[0], out[1]


def test_words_are_merged_pieces_without_special_tokens(tiny_encoder: Any) -> None:
    (att,) = integrated_gradients(tiny_encoder, [CASE], [0])
    notes = att.note_words()
    spans = note_word_spans(CASE.notes)
    assert [w.span for w in notes] == spans
    assert [w.word for w in notes] == [display_word(CASE.notes, s) for s in spans]
    assert "coughing" in [w.word for w in notes]  # cough + ##ing summed into one word
    structured = [w.word for w in att.words if w.span is None]
    assert structured[:3] == ["age", "[UNK]", "("]  # the encoder's text after the notes
    assert "heart" in structured and "128" in structured
    assert not {"[CLS]", "[SEP]", "[PAD]"} & {w.word for w in att.words}
    assert att.method == "integrated_gradients" and att.target == 0


def test_weights_are_complete_up_to_the_reported_delta(tiny_encoder: Any) -> None:
    (att,) = integrated_gradients(tiny_encoder, [CASE], [2])
    p_input, p_baseline = target_probability(tiny_encoder, CASE, 2)
    assert att.delta is not None and abs(att.delta) < 0.1
    total = sum(w.weight for w in att.words)
    assert total - att.delta == pytest.approx(p_input - p_baseline, abs=1e-4)
    assert max(abs(w.weight) for w in att.words) > 1e-3  # a real signal, not zeros


def test_batched_cases_match_one_at_a_time(tiny_encoder: Any) -> None:
    short = Case(case_id="2", notes="rash and itch")
    together = integrated_gradients(
        tiny_encoder, [CASE, short, CASE], [0, 1, 2], internal_batch_size=4
    )
    alone = [
        integrated_gradients(tiny_encoder, [c], [t])[0]
        for c, t in ((CASE, 0), (short, 1), (CASE, 2))
    ]
    for a, b in zip(together, alone, strict=True):
        assert [w.word for w in a.words] == [w.word for w in b.words]
        assert [w.weight for w in a.words] == pytest.approx([w.weight for w in b.words], abs=1e-4)


def test_chinese_notes_map_to_note_words(tiny_encoder: Any) -> None:
    case = Case(case_id="3", notes="发热三天，咳嗽")
    (att,) = integrated_gradients(tiny_encoder, [case], [0])
    assert [case.notes[s:e] for s, e in (w.span for w in att.note_words() if w.span)] == [
        case.notes[s:e] for s, e in note_word_spans(case.notes)
    ]


def test_calibrated_encoder_explains_the_scaled_probability(tiny_encoder: Any) -> None:
    calibrated = CalibratedModel(tiny_encoder, 2.0, {})
    assert unwrap_encoder(calibrated) == (tiny_encoder, 2.0)
    (att,) = integrated_gradients(calibrated, [CASE], [1], n_steps=30)
    p_input, p_baseline = target_probability(tiny_encoder, CASE, 1, temperature=2.0)
    assert att.delta is not None
    total = sum(w.weight for w in att.words)
    assert total - att.delta == pytest.approx(p_input - p_baseline, abs=1e-4)


def test_errors(tiny_encoder: Any, keyword_model: TfidfModel) -> None:
    assert unwrap_encoder(keyword_model) is None
    with pytest.raises(InputError, match="expected an encoder model with a transformer `network`"):
        integrated_gradients(keyword_model, [CASE], [0])
    with pytest.raises(InputError, match=r"one class index per case \(1\); found 2 targets"):
        integrated_gradients(tiny_encoder, [CASE], [0, 1])
    with pytest.raises(InputError, match="n_steps: expected an integer >= 1"):
        integrated_gradients(tiny_encoder, [CASE], [0], n_steps=0)
    assert integrated_gradients(tiny_encoder, [], []) == []
