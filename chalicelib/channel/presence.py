"""Who is connected where: connection items, per-user presence, and pushing frames to a user."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from threading import Lock
from typing import Any, Protocol

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.channel.models import Connection, Presence
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.modelbase import expires
from chalicelib.platform.observability import logger
from chalicelib.platform.ws import PostResult, Sender

# API Gateway closes every connection after 2 hours; a little slack for clock skew.
CONNECTION_TTL_SECONDS = 2 * 3600 + 300
# API Gateway answers 410 to posts to a connection whose $connect has not returned yet (the Lambda may run
# this long), so a 410 to a younger connection does not mean it is gone: its $disconnect will come if it is.
CONNECTING_SECONDS = 30
# Open connections one user may hold (tabs, devices); beyond them a new one is refused.
MAX_CONNECTIONS = {"visitor": 5, "staff": 10}


class TooManyConnections(Exception):
    """The user already holds its limit of open connections."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} open connections per user; close one first")
        self.limit = limit
_CACHE_SIZE = 10_000


class Departures(Protocol):
    """Told when a user's last connection goes (the sessions' lifecycle implements it)."""

    def staff_gone(self, user_id: str) -> None:
        """A staff member: routing sets it offline, its sessions wait for it."""

    def visitor_gone(self, visitor_id: str, session_id: str | None) -> None:
        """A visitor, with its current session: the session waits for it."""


class PresenceService:
    """Registers connections and delivers frames to them, forgetting the ones that are gone."""

    def __init__(self, sender: Sender, departures: Callable[[], Departures | None] = lambda: None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._sender = sender
        self._clock = clock
        # Built over this service, so reached through a provider at call time (None: nobody is told).
        self._departures = departures
        # A connection's identity never changes, so a warm Lambda can skip the lookup.
        self._identities: OrderedDict[str, Identity] = OrderedDict()
        self._lock = Lock()

    def connect(self, connection_id: str, identity: Identity) -> Presence:
        """Record a new connection; returns the user's presence after the change. TooManyConnections
        (and nothing recorded) when the user already holds its limit."""
        now = self._clock.now()
        Connection(connection_id, user_id=identity.user_id, role=identity.role, name=identity.name,
                   groups=set(identity.groups) or None, connected_at=int(now * 1000),
                   token_expires_at=identity.expires_at, protocol=identity.protocol if identity.protocol > 1 else None,
                   expires_at=expires(now + CONNECTION_TTL_SECONDS)).save()
        presence = Presence(identity.user_id)
        actions: list[Any] = [
            Presence.conns.add({connection_id}),
            Presence.role.set(identity.role),
            Presence.updated_at.set(self._clock.now_ms()),
        ]
        if identity.name:
            actions.append(Presence.name.set(identity.name))
        presence.update(actions=actions)
        limit = MAX_CONNECTIONS["staff" if identity.is_staff else "visitor"]
        if len(presence.conns or ()) > limit:
            # The update's own result shows the count: no extra read on the connect path.
            self._forget(connection_id, identity.user_id)
            raise TooManyConnections(limit)
        self._remember(connection_id, identity)
        return presence

    def disconnect(self, connection_id: str) -> Identity | None:
        """Forget a connection; returns whose it was (None if unknown)."""
        return self._forget(connection_id, None)

    def _drop_conn(self, user_id: str, connection_id: str, staff: bool) -> None:
        presence = Presence(user_id)
        try:
            # Only the call that removes it goes on: a connection forgotten twice (a 410, then its
            # $disconnect) must not tell the user's last connection gone twice.
            presence.update(actions=[Presence.conns.delete({connection_id})],
                            condition=Presence.conns.contains(connection_id))
        except UpdateError:
            return
        if presence.conns:
            return
        departures = self._departures()
        if departures is None:
            return
        if staff:
            departures.staff_gone(user_id)
        else:
            departures.visitor_gone(user_id, presence.session_id)

    def identity(self, connection_id: str) -> Identity | None:
        """Who holds the connection (None if unknown). ImError ``expired_token`` once the token it opened with
        has expired: the connection is then treated as closed, and taken out of the user's presence so nothing
        more is pushed to it; a client renews by reconnecting with a new token and resuming."""
        identity = self._lookup(connection_id)
        if identity is not None and identity.expires_at is not None and self._clock.now() >= identity.expires_at:
            self._drop_conn(identity.user_id, connection_id, staff=identity.is_staff)
            raise ImError("expired_token", "your token has expired; get a new one, reconnect and resume",
                          expired_at=identity.expires_at)
        return identity

    def _lookup(self, connection_id: str) -> Identity | None:
        with self._lock:
            cached = self._identities.get(connection_id)
        if cached is not None:
            return cached
        try:
            conn = Connection.get(connection_id)
        except DoesNotExist:
            return None
        expiry = conn.token_expires_at
        identity = Identity(user_id=conn.user_id, role=conn.role, name=conn.name,
                            groups=tuple(sorted(conn.groups or ())), expires_at=None if expiry is None else int(expiry),
                            protocol=int(conn.protocol or 1))
        self._remember(connection_id, identity)
        return identity

    def _remember(self, connection_id: str, identity: Identity) -> None:
        with self._lock:
            self._identities[connection_id] = identity
            while len(self._identities) > _CACHE_SIZE:
                self._identities.popitem(last=False)

    def connections_of(self, user_id: str) -> set[str]:
        try:
            return set(Presence.get(user_id, attributes_to_get=["conns"]).conns or ())
        except DoesNotExist:
            return set()

    def post(self, connection_id: str, frame: Mapping[str, Any], user_id: str | None = None) -> bool:
        result = self._sender.post(connection_id, frame)
        if result is PostResult.GONE and not self._connecting(connection_id):
            self._forget(connection_id, user_id)
        return result is PostResult.OK

    def push(self, user_id: str, frame: Mapping[str, Any], conns: Iterable[str] | None = None) -> int:
        """Post ``frame`` to every connection of ``user_id``; returns how many took it."""
        targets = self.connections_of(user_id) if conns is None else set(conns)
        return sum(1 for c in sorted(targets) if self.post(c, frame, user_id))

    def push_many(self, frames: Mapping[str, Mapping[str, Any]]) -> int:
        """Post each user its own frame, reading everyone's connections in batches of 100."""
        conns: dict[str, set[str]] = {}
        users = sorted(frames)
        for start in range(0, len(users), 100):
            for presence in Presence.batch_get(users[start:start + 100], attributes_to_get=["user_id", "conns"]):
                conns[presence.user_id] = set(presence.conns or ())
        return sum(self.push(user, frames[user], conns=conns.get(user, set())) for user in users)

    def _connecting(self, connection_id: str) -> bool:
        """Whether the connection may still be in its $connect (read only on a 410, which is rare)."""
        try:
            connected_at = Connection.get(connection_id, attributes_to_get=["connected_at"]).connected_at
        except DoesNotExist:
            return False
        return self._clock.now_ms() - int(connected_at) < CONNECTING_SECONDS * 1000

    def _forget(self, connection_id: str, user_id: str | None) -> Identity | None:
        # Also runs on a 410, since $disconnect may never come: nothing posts to it again.
        identity = self._lookup(connection_id)
        with self._lock:
            self._identities.pop(connection_id, None)
        try:
            Connection(connection_id).delete()
        except DeleteError:
            logger.warning("could not delete connection", extra={"connection_id": connection_id})
        owner = user_id or (identity.user_id if identity else None)
        if owner:
            self._drop_conn(owner, connection_id, staff=bool(identity and identity.is_staff))
        return identity
