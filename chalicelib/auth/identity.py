"""Who is calling: the result of verifying a token, and the shapes of user ids.

Staff, anonymous visitors and a shop's signed-in customers share the tables' user id fields (sessions,
presence, messages), so their ids are kept in disjoint namespaces: whatever ``sub`` a shop signs, it can
never name a staff member or another kind of visitor.

- an anonymous visitor (``POST /visitors/token``): ``v_<16 hex>``, minted by the server;
- a shop's customer (a token the shop signs): ``c:<the shop's customer id>``;
- staff: the sign-in name, refused if it starts with either visitor prefix or is a reserved id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STAFF_ROLES = ("agent", "supervisor", "admin")
ANONYMOUS_PREFIX = "v_"
CUSTOMER_PREFIX = "c:"
# Ids the platform itself writes as a participant (the FAQ robot's messages): no person may sign in as one.
RESERVED_IDS = frozenset({"robot"})


def customer_visitor_id(customer_id: str) -> str:
    """The visitor id of a shop's customer."""
    return CUSTOMER_PREFIX + customer_id


def shop_customer_id(visitor_id: str) -> str | None:
    """The shop's own customer id inside a visitor id (for its order lookup); None for anonymous visitors."""
    return visitor_id[len(CUSTOMER_PREFIX):] if visitor_id.startswith(CUSTOMER_PREFIX) else None


def is_visitor_id(user_id: str) -> bool:
    return user_id.startswith((ANONYMOUS_PREFIX, CUSTOMER_PREFIX))


def is_staff_id(user_id: str) -> bool:
    """Whether ``user_id`` may name a staff member: never one a visitor could hold."""
    return bool(user_id) and not is_visitor_id(user_id) and user_id not in RESERVED_IDS


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
    # When the token it came from expires (epoch seconds); a connection is refused frames after it. Not part
    # of who the caller is, so two tokens of one user compare equal.
    expires_at: int | None = field(default=None, compare=False)
    # The WebSocket protocol version its connection asked for (docs/protocol.md, section 1): what frames it
    # understands, not who it is.
    protocol: int = field(default=1, compare=False)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def customer_id(self) -> str | None:
        """The shop's own id for a signed-in customer; None for anonymous visitors and staff."""
        return None if self.is_staff else shop_customer_id(self.user_id)
