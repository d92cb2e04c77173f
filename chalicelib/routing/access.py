"""Which groups' work a staff member sees."""

from __future__ import annotations

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig


def visible_groups(config: RoutingConfig, who: Identity) -> list[str]:
    """The groups whose left messages ``who`` sees: every group for supervisors and admins, an agent's own."""
    if who.role != "agent":
        return sorted(config.groups)
    return [group.group_id for group, _ in config.groups_of(who.user_id)]
