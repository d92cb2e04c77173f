"""A collaborator that is built after the service that needs it (two services that call each other)."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Late(Generic[T]):
    """Handed to a constructor now, bound once by the wiring before any request; calling it gives the
    collaborator. A call before the binding is a wiring mistake and says so."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._value: T | None = None

    def bind(self, value: T) -> T:
        if self._value is not None:
            raise RuntimeError(f"{self._name} is bound already")
        self._value = value
        return value

    def __call__(self) -> T:
        if self._value is None:
            raise RuntimeError(f"{self._name} is used before the wiring bound it")
        return self._value
