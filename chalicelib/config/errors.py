"""The one error of the configuration documents: which document, which field, and why."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration document that cannot be used.

    ``document`` is ``hours``, ``groups`` or ``routing`` (empty when no single document is at fault,
    e.g. SSM could not be read); ``path`` is the field, e.g. ``groups[1].queue.max_waiting`` (empty
    for the document as a whole).
    """

    def __init__(self, document: str, path: str, message: str) -> None:
        super().__init__(document, path, message)
        self.document = document
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return ": ".join(part for part in (self.document, self.path, self.message) if part)
