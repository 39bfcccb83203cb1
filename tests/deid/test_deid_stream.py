"""Streaming de-identification: blocks, encodings, atomic output, consistency across blocks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dxkit.deid import stream
from dxkit.deid.engine import Detector
from dxkit.deid.replace import Deidentifier, Policy
from dxkit.deid.stream import (
    atomic_text_writer,
    check_output_path,
    deidentify_stream,
    read_blocks,
)
from dxkit.deid.types import PhiKind
from dxkit.errors import InputError


def test_blocks_end_at_paragraphs_and_cover_every_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "SOFT_BLOCK_BYTES", 40)
    monkeypatch.setattr(stream, "HARD_BLOCK_BYTES", 200)
    text = ("Seen by Dr. Alvarez on 03/14/2023.\n" * 3 + "\n") * 4
    blocks = list(read_blocks(io.BytesIO(text.encode())))
    assert "".join(block for block, _ in blocks) == text
    assert sum(size for _, size in blocks) == len(text.encode())
    assert len(blocks) >= 4
    assert all(block.endswith("\n\n") for block, _ in blocks if block)


def test_a_character_cut_by_a_block_edge_survives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "SOFT_BLOCK_BYTES", 4)
    monkeypatch.setattr(stream, "HARD_BLOCK_BYTES", 5)
    text = "患者张伟发热三天" * 3  # one long line: blocks cut inside 3-byte characters
    blocks = list(read_blocks(io.BytesIO(text.encode())))
    assert "".join(block for block, _ in blocks) == text


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b"fever\x00\x01\x02", "NUL byte at byte offset 5"),
        ("café".encode("latin-1") + b" fever", "not UTF-8 near byte offset 3"),
    ],
)
def test_binary_or_non_utf8_input_is_refused_without_quoting_it(raw: bytes, found: str) -> None:
    with pytest.raises(InputError, match=found) as info:
        list(read_blocks(io.BytesIO(raw), name="notes.txt"))
    assert "fever" not in str(info.value)
    assert "iconv" in str(info.value)


def test_one_deidentifier_keeps_surrogates_consistent_across_blocks(
    monkeypatch: pytest.MonkeyPatch, detector: Detector
) -> None:
    monkeypatch.setattr(stream, "SOFT_BLOCK_BYTES", 10)
    text = "Patient: Grace Whitfield\n\nfiller line\n\nMrs. Whitfield was seen again.\n"
    deidentifier = Deidentifier(
        Policy.SURROGATE, key="test-key-0123456789", patient_id="p", detector=detector
    )
    sink = io.StringIO()
    counts = deidentify_stream(io.BytesIO(text.encode()), sink, deidentifier)
    out = sink.getvalue()
    assert "Whitfield" not in out
    surname = out.split("Patient: ")[1].split("\n")[0].split()[-1]
    assert f"Mrs. {surname} was seen again." in out
    assert counts[PhiKind.NAME] == 2


def test_atomic_writer_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "clean.txt"
    out.write_text("previous result", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_text_writer(out) as sink:
        sink.write("half")
        raise RuntimeError("disk full")
    assert out.read_text(encoding="utf-8") == "previous result"
    assert list(tmp_path.iterdir()) == [out]
    with atomic_text_writer(out) as sink:
        sink.write("new")
    assert out.read_text(encoding="utf-8") == "new"
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_output_path_checks(tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="never modified in place"):
        check_output_path(source, tmp_path / "." / "notes.txt")
    with pytest.raises(InputError, match="does not exist"):
        check_output_path(source, tmp_path / "missing" / "out.txt")
    with pytest.raises(InputError, match="is a folder"):
        check_output_path(source, tmp_path)
    check_output_path(source, tmp_path / "out.txt")  # fine


def test_a_name_found_in_one_block_is_found_in_the_next(
    monkeypatch: pytest.MonkeyPatch, detector: Detector
) -> None:
    monkeypatch.setattr(stream, "SOFT_BLOCK_BYTES", 10)
    text = "Seen by Dr. Qwertzu today.\n\nfiller\n\nQwertzu agrees with the plan.\n"
    sink = io.StringIO()
    deidentify_stream(io.BytesIO(text.encode()), sink, Deidentifier(Policy.TAG, detector=detector))
    assert "Qwertzu" not in sink.getvalue()
