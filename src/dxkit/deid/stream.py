"""De-identify a text stream of any size, a paragraph block at a time.

Files larger than memory are read in blocks that end at a blank line where possible
(an address or a signature rarely spans paragraphs) and at a line end otherwise, so no
identifier is cut by a block edge except in a line longer than the block. One
:class:`Deidentifier` serves the whole stream, so surrogates stay consistent from the
first page to the last. Input that is not UTF-8 text is refused with the byte offset
where it stops being text, never with its content.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from dxkit.deid.replace import Deidentifier
from dxkit.deid.types import PhiKind
from dxkit.errors import InputError

# A block closes at the first blank line after this many bytes, or at any line end
# after HARD_BLOCK_BYTES.
SOFT_BLOCK_BYTES = 64 * 1024
HARD_BLOCK_BYTES = 512 * 1024


def _not_text(what: str, found: str) -> InputError:
    return InputError(
        what,
        expected="UTF-8 text",
        found=found,
        fix="convert the file to UTF-8 text first (e.g. iconv -t UTF-8), or pass a text export",
    )


def read_blocks(source: BinaryIO, *, name: str = "input") -> Iterator[tuple[str, int]]:
    """Decoded text blocks of ``source`` with the number of bytes each came from.

    Lines are read at most ``HARD_BLOCK_BYTES`` at a time, so even a file that is one
    endless line never has to fit in memory; the incremental decoder carries a
    character cut at a block edge over to the next block.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    pending: list[bytes] = []
    size = 0
    for line in iter(lambda: source.readline(HARD_BLOCK_BYTES), b""):
        pending.append(line)
        size += len(line)
        at_paragraph_end = line.strip() == b"" and size >= SOFT_BLOCK_BYTES
        if at_paragraph_end or size >= HARD_BLOCK_BYTES:
            yield _decode(decoder, b"".join(pending), offset, name, final=False), size
            offset += size
            pending, size = [], 0
    yield _decode(decoder, b"".join(pending), offset, name, final=True), size


def _decode(
    decoder: codecs.IncrementalDecoder, raw: bytes, offset: int, name: str, *, final: bool
) -> str:
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise _not_text(name, f"binary data (a NUL byte at byte offset {offset + nul})")
    try:
        return decoder.decode(raw, final=final)
    except UnicodeDecodeError as exc:
        where = offset + max(exc.start, 0)
        raise _not_text(name, f"bytes that are not UTF-8 near byte offset {where}") from None


def deidentify_stream(
    source: BinaryIO,
    sink: TextIO,
    deidentifier: Deidentifier,
    *,
    name: str = "input",
    on_bytes: Callable[[int], None] | None = None,
) -> Counter[PhiKind]:
    """Write the de-identified text of ``source`` to ``sink``; counts found by kind."""
    counts: Counter[PhiKind] = Counter()
    for block, size in read_blocks(source, name=name):
        result = deidentifier.deidentify(block)
        sink.write(result.text)
        counts.update(result.counts)
        if on_bytes is not None:
            on_bytes(size)
    return counts


def check_output_path(source: Path | None, out: Path) -> None:
    """Refuse an output that would overwrite the input or land in a missing folder."""
    if source is not None and out.exists() and out.resolve() == source.resolve():
        raise InputError(
            "--out",
            expected="a path other than the input file",
            found="the input file itself",
            fix="write to a new file; the original is never modified in place",
        )
    if not out.parent.is_dir():
        raise InputError(
            "--out",
            expected="a file in an existing folder",
            found=f"{out.parent} does not exist",
            fix="create the folder first or choose another path",
        )
    if out.is_dir():
        raise InputError(
            "--out", expected="a file path", found=f"{out} is a folder", fix="add a file name"
        )


@contextmanager
def atomic_text_writer(out: Path) -> Iterator[TextIO]:
    """A text file that appears at ``out`` only when the block completes without error.

    It is written beside ``out`` and renamed into place; on an error the partial file
    is deleted and an existing ``out`` is left as it was.
    """
    handle, temp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, out)
        _fsync_folder(out.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
