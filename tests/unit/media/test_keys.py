"""Media keys are read only in the store's own shape."""

from __future__ import annotations

from chalicelib.media.uploads import KEY_PATTERN

KEY = "media/2025/01/" + "0a" * 16 + ".jpg"


def test_a_media_key_with_a_trailing_newline_is_not_one_of_ours() -> None:
    assert KEY_PATTERN.match(KEY)
    assert not KEY_PATTERN.match(KEY + "\n")
