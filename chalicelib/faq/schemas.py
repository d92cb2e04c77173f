"""Request bodies of the robot-management API (docs/openapi.yaml documents their JSON Schemas)."""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from pydantic import Field

from chalicelib.faq.model import LANGUAGES
from chalicelib.faq.store import FAQ_ID_PATTERN, MAX_QUESTION
from chalicelib.faq.transfer import FORMATS
from chalicelib.platform.http import Body, NonBlank

MAX_IMPORT_CHARS = 5_000_000  # API Gateway takes 10 MB a request; bigger files go through the CLI

Language = Literal["en", "zh"]
Format = Literal["jsonl", "csv"]
assert (get_args(Language), get_args(Format)) == (LANGUAGES, FORMATS)


class RobotTry(Body):
    """POST /robot/try: what the robot would do with ``query``."""

    MESSAGES: ClassVar[dict[str, str]] = {"language": f"'language' must be one of {', '.join(LANGUAGES)}"}

    query: NonBlank = Field(max_length=MAX_QUESTION)
    language: Language | None = None


class FaqImport(Body):
    """POST /faqs/import: a whole file, all rows or none."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "format:required": f"'format' is required: one of {', '.join(FORMATS)}",
        "format": f"'format' must be one of {', '.join(FORMATS)}",
        "data:too_long": f"'data' may be at most {MAX_IMPORT_CHARS} characters; import bigger files with the CLI "
                         "(make faq-import)",
        "data": "'data' must be the file's text",
        "namespace": "'namespace' must be 1 to 60 letters, digits or _ . : / -",
    }

    format: Format
    data: NonBlank = Field(max_length=MAX_IMPORT_CHARS)
    namespace: str | None = Field(None, max_length=60, pattern=f"^{FAQ_ID_PATTERN}$")
