"""Who is calling: the result of verifying a token."""

from __future__ import annotations

from dataclasses import dataclass

STAFF_ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True)
class Identity:
    user_id: str
    role: str  # visitor, agent, supervisor or admin
    name: str | None = None
    channel: str | None = None
    source: str | None = None
    category: str | None = None
    tier: str | None = None  # customer tier from the shop (e.g. vip)
    language: str | None = None  # BCP 47, e.g. en, zh-CN
    groups: tuple[str, ...] = ()

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES
