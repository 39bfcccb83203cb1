"""Errors that tell the user what was expected, what was found and how to fix it.

Every error the CLI or service shows to a person derives from :class:`DxkitError`, so the
CLI can print one readable line and exit non-zero instead of a traceback. Messages never
quote patient free text: callers pass field names and values of structured fields only.
"""

from __future__ import annotations


class DxkitError(Exception):
    """Base class of user-facing errors: ``expected`` / ``found`` / ``fix``."""

    def __init__(self, what: str, *, expected: str, found: str, fix: str) -> None:
        self.what = what
        self.expected = expected
        self.found = found
        self.fix = fix
        super().__init__(f"{what}: expected {expected}; found {found}. Fix: {fix}")


class InputError(DxkitError):
    """A case, file or option the user gave is malformed or implausible."""


class DataNotFoundError(DxkitError):
    """A data set or file path does not exist or is not in the expected layout."""


class ModelFormatError(DxkitError):
    """A saved model directory is missing files or was written by another version."""
