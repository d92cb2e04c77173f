"""Which groups' work a staff member sees."""

from __future__ import annotations

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig


def visible_groups(config: RoutingConfig, who: Identity) -> list[str]:
    """The groups whose left messages ``who`` sees: every group for supervisors and admins, an agent's own."""
    if who.role != "agent":
        return sorted(config.groups)
    return [group.group_id for group, _ in config.groups_of(who.user_id)]


def staff_groups(config: RoutingConfig, who: Identity) -> set[str]:
    """The groups whose work ``who`` oversees or shares (replies, reports, colleagues to hand a chat to): every
    group for an admin; the groups it works in, and for a supervisor also its token's (those configured)."""
    if who.role == "admin":
        return set(config.groups)
    mine = {group.group_id for group, _ in config.groups_of(who.user_id)}
    if who.role == "supervisor":
        mine |= {g for g in who.groups if g in config.groups}
    return mine
