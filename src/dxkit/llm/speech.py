"""Spoken summaries: espeak-ng, offline, English or Mandarin, written atomically.

Why espeak-ng: it is a small Debian package that runs without network or model weights,
speaks Mandarin (``-v cmn``) as well as English, and writes WAV directly. The WAV is
written beside its target and renamed into place, owner-readable only, like every other
dxkit output that may describe a patient.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from dxkit.errors import DataNotFoundError, InputError
from dxkit.llm.texts import Lang

VOICES: dict[Lang, str] = {"en": "en", "zh": "cmn"}
WORDS_PER_MINUTE = 150  # a little slower than espeak-ng's default 175, for patients


def espeak_binary() -> str:
    """Path of espeak-ng, or a DataNotFoundError saying how to install it."""
    found = shutil.which("espeak-ng")
    if found is None:
        raise DataNotFoundError(
            "espeak-ng",
            expected="the espeak-ng program on PATH",
            found="none",
            fix="install it: apt-get install espeak-ng",
        )
    return found


def synthesize(text: str, lang: Lang, out: Path, *, timeout_s: float = 120.0) -> Path:
    """Speak ``text`` in ``lang`` into the WAV file ``out`` (atomically); returns ``out``."""
    if not text.strip():
        raise InputError("speech text", expected="some text", found="nothing", fix="pass a summary")
    binary = espeak_binary()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".wav")
    os.close(fd)
    try:
        command = [binary, "-v", VOICES[lang], "-s", str(WORDS_PER_MINUTE), "-w", tmp, "--stdin"]
        done = subprocess.run(
            command, input=text.encode("utf-8"), capture_output=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0 or os.path.getsize(tmp) < 44:  # 44: an empty WAV header
            raise DataNotFoundError(
                "espeak-ng",
                expected=f"a WAV file from voice {VOICES[lang]!r}",
                found=f"exit code {done.returncode}",
                fix="check that espeak-ng and its voice data are installed",
            )
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out
