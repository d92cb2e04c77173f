"""Reliable messaging: send, ACK, retry, give up, resume and history.

A sent message is written ``pending`` and posted to the recipient's connections, and the delivery
state machine starts; the first ACK flips it to ``delivered`` (the sender is told), and if the
third attempt goes unACKed the message is deleted and the sender gets ``send_failed``. Both ends
are single conditional writes on the message item, so an ACK racing the last retry settles once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.auth.identity import STAFF_ROLES, Identity
from chalicelib.channel.errors import ImError
from chalicelib.channel.models import Presence
from chalicelib.channel.presence import PresenceService
from chalicelib.im.delivery import DeliveryTimer
from chalicelib.im.events import (
    DeliveredEvent,
    DeliveredItem,
    MessageEvent,
    NoteEvent,
    ReadEvent,
    ReadItem,
    ResumedEvent,
    SendFailedEvent,
    StoredEvent,
    TypingEvent,
)
from chalicelib.im.models import Message, marker_sk, message_sk
from chalicelib.im.schemas import MessageRef, SendFrame, is_session_id, message_id
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import is_condition_failed
from chalicelib.platform.modelbase import expires
from chalicelib.platform.observability import logger, message_delivered, message_sent
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.sessions.service import SessionService
from chalicelib.settings import MAX_DELIVERY_ATTEMPTS

PENDING = "pending"
DELIVERED = "delivered"
# Kept for a recipient with no connection (a dropped visitor the session waits for, an agent whose console
# is closed): no delivery attempts, no send_failed; they get it on resume and their ACK makes it delivered.
STORED = "stored"
# An internal note (docs/protocol.md, "Internal notes"): ``kind`` ``note`` and status ``internal``. It takes the
# session's next sequence number (so staff read it in place) but is sent to nobody: it is never pending, never
# ACKed, and every path that shows a visitor messages leaves it out (``for_visitor``). Indexes of transcripts
# skip kind ``note`` too.
NOTE = "note"
INTERNAL = "internal"
MARKER_TTL_SECONDS = 7 * 24 * 3600
RESUME_PAGE = 100
RESUME_LOOKBACK = 20  # messages below a resume's after_seq that are still looked at for deliveries owed
_LAST_SK = message_sk(10**12 - 1)
# How long a ready message waits for its companion frame (it is computed beside the send's writes, so
# it is nearly always ready first); past this the message goes alone and the companion follows.
COMPANION_WAIT_SECONDS = 0.05

# Independent reads/writes on the send path run side by side, keeping it to three sequential calls
# before the post to the recipient.
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="im")


def _companion_frame(pending: Future[dict[str, Any] | None] | None, timeout: float | None,
                     session_id: str) -> dict[str, Any] | None:
    """The companion frame once ready (within ``timeout``), else None. A failed one is logged: it is a help,
    never a reason to fail a message."""
    if pending is None:
        return None
    try:
        return pending.result(timeout=timeout)
    except FutureTimeout:
        return None
    except Exception:
        logger.exception("message companion failed", extra={"session_id": session_id})
        return None


def message_json(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {
        "message_id": msg.message_id,
        "session_id": msg.session_id,
        "seq": int(msg.seq or 0),
        "sender_id": msg.sender_id,
        "sender_role": msg.sender_role,
        "type": msg.kind,
        "content": msg.content.as_dict() if msg.content is not None else {},
        "client_msg_id": msg.client_msg_id,
        "created_at": int(msg.created_at or 0),
        "status": msg.status,
    }
    if msg.read_at is not None:
        out["read_at"] = int(msg.read_at)
    if msg.sender_name:
        out["sender_name"] = msg.sender_name
    return out


def _message_frame(msg: Message, attempt: int) -> dict[str, Any]:
    return MessageEvent.model_validate({"message": message_json(msg), "attempt": attempt}).frame()


def participant(session: Session, caller: Identity) -> bool:
    """Whether ``caller`` takes part in ``session``: a visitor as its visitor, staff as its agent. Ids of the two
    kinds never collide (auth/identity.py); comparing by role keeps them apart in older items too."""
    return caller.user_id == (session.agent_id if caller.is_staff else session.visitor_id)


def _side(caller: Identity) -> Condition:
    """The sequence write's condition that ``caller`` takes part, on its own side of the session."""
    return (Session.agent_id == caller.user_id) if caller.is_staff else (Session.visitor_id == caller.user_id)


def supervises(caller: Identity, session: Session) -> bool:
    """Admins oversee every session; a supervisor those of the groups in its token."""
    return caller.role == "admin" or (caller.role == "supervisor" and session.group_id in caller.groups)


def reads_notes(caller: Identity, session: Session) -> bool:
    """Who reads and writes a session's internal notes: its agent, a supervisor of its group, an admin. Never a
    visitor, whatever the session."""
    return caller.is_staff and (caller.user_id == session.agent_id or supervises(caller, session))


def for_visitor(msg: Message) -> bool:
    """Whether a visitor may ever be shown ``msg``: every read path a visitor has (resume, history) asks this, so
    a note can never reach one, whatever its status."""
    return msg.kind != NOTE and msg.status != INTERNAL


@dataclass
class AckOutcome:
    """What a multi-id ACK did with each id: ``delivered`` (it confirmed a delivery, the sender is told),
    ``repeated`` (already delivered: nothing to do), ``unknown`` (no such message, or it failed), ``forbidden``
    (not sent to the caller). The last three changed nothing."""

    delivered: list[MessageRef] = field(default_factory=list)
    repeated: list[MessageRef] = field(default_factory=list)
    unknown: list[MessageRef] = field(default_factory=list)
    forbidden: list[MessageRef] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return len(self.repeated) + len(self.unknown) + len(self.forbidden)


@dataclass
class ReadOutcome(AckOutcome):
    """What a ``read`` did with each id: as an ACK's, plus ``read`` (marked read now, the sender is told;
    ``delivered`` those of them it also delivered); ``repeated`` here means read already."""

    read: list[MessageRef] = field(default_factory=list)


# How long a receiver shows "typing…" after a `typing` start: a little over the clients' resend interval
# (TYPING_RESEND_SECONDS), so a steady typist's indicator never flickers between frames.
TYPING_RESEND_SECONDS = 4
TYPING_TTL_MS = 6000

Companion = Callable[[Session, Message], dict[str, Any] | None]
ROBOT_ID = "robot"
ROBOT_ROLE = "robot"


class ImService:
    def __init__(self, presence: PresenceService, timer: DeliveryTimer, sessions: SessionService,
                 companion: Companion | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self._presence = presence
        self._timer = timer
        self._sessions = sessions  # owns the session item: its sequence numbers are taken there
        self._clock = clock
        # A frame that goes with a message to its recipient (the SOP assistant's suggestions for agents), or
        # None. It is worked out beside the send's own writes and rides inside the message frame, under its
        # event name, when ready by the post: one WebSocket message instead of two.
        self.companion = companion

    # -- sending ---------------------------------------------------------------------------------

    def send(self, caller: Identity, connection_id: str, frame: SendFrame) -> None:
        """Accept a message from ``caller`` and make its first delivery attempt."""
        session = self.next_seq(caller, frame.session_id)
        seq = int(session.seq)
        recipient_id = session.visitor_id if caller.is_staff else session.agent_id
        assert recipient_id is not None
        recipient_conns = _pool.submit(self._presence.connections_of, recipient_id)
        now = self._clock.now_ms()
        to_visitor = recipient_id == session.visitor_id
        msg = Message(frame.session_id, message_sk(seq), seq=seq,
                      message_id=message_id(frame.session_id, seq), sender_id=caller.user_id,
                      sender_role=caller.role, sender_name=caller.name, recipient_id=recipient_id,
                      kind=frame.kind, content=frame.content, client_msg_id=frame.client_msg_id,
                      sender_conn=connection_id, sender_protocol=caller.protocol if caller.protocol > 1 else None,
                      status=PENDING, attempts=1, created_at=now)
        companion = None if self.companion is None else _pool.submit(self.companion, session, msg)
        if not self.claim_client_id(caller, frame, seq):
            for pending in (recipient_conns, companion):
                if pending is not None:
                    pending.cancel()
            self.answer_duplicate(caller, connection_id, frame)
            return
        # The lookup ran beside the claim. A recipient with no connection (a dropped visitor the session
        # waits for, an agent whose console is closed or reconnecting) gets the message kept, not retried
        # into the void and failed: it is handed over on their `resume`, and their ACK makes it delivered.
        conns: set[str] | None = recipient_conns.result()
        if session.visitor_away_at is not None if to_visitor else not conns:
            msg.status = STORED
        msg.save(condition=Message.sk.does_not_exist())
        message_sent()
        if msg.status == STORED:
            # The recipient may have come back between that look and the save, and resumed before the save:
            # look again once the message is there (a resume from now on finds it); if it is back, deliver.
            # A visitor is back when its session says so, or when it has a connection: a departure's mark can
            # land after the reconnect that ended it (visitor_gone clears it again a moment later).
            latest = self._sessions.get(frame.session_id) if to_visitor else None
            back = latest is not None and latest.visitor_away_at is None
            conns = None if back else self._presence.connections_of(recipient_id)
            if not (back or conns):
                if companion is not None:
                    companion.cancel()
                self._presence.post(connection_id, self.stored_frame(msg), caller.user_id)
                return
            try:
                msg.update(actions=[Message.status.set(PENDING)], condition=Message.status == STORED)
            except UpdateError as err:
                if is_condition_failed(err):
                    return  # its resume got it and ACKed it: the sender was told "delivered"
                raise
        # The timer starts before the first post, so no delivery can be left without an end.
        self._timer.start(frame.session_id, msg.sk, seq)
        out: dict[str, Any] = {"message": message_json(msg), "attempt": 1}
        extra = _companion_frame(companion, COMPANION_WAIT_SECONDS, frame.session_id)
        if extra is not None:
            out[extra["event"]] = extra
        self._presence.push(recipient_id, MessageEvent.model_validate(out).frame(), conns=conns)
        if extra is None and companion is not None:
            # Not ready in time: it follows in a frame of its own rather than hold the message up.
            late = _companion_frame(companion, None, frame.session_id)
            if late is not None:
                self._presence.push(recipient_id, late, conns=conns)

    def next_seq(self, caller: Identity, session_id: str, condition: Condition | None = None) -> Session:
        """Take the session's next sequence number for ``caller``'s message, if ``condition`` holds
        (default: an active session ``caller`` takes part in); else the ImError that says why not."""
        if condition is None:
            condition = (Session.status == sm.ACTIVE) & _side(caller)
        session = self._sessions.take_seq(session_id, staff=caller.is_staff, condition=condition)
        if session is None:
            raise self.why_not_sendable(caller, session_id)
        return session

    # -- the robot's side of a chat: the same messages, delivered at once ----------------------------------

    def send_to_robot(self, visitor: Identity, connection_id: str, frame: SendFrame) -> Session | None:
        """A visitor's message while no agent has the session (the robot's, or waiting): kept as delivered
        history and confirmed. Returns the session as the message left it, None for a resend (answered)."""
        session = self.next_seq(visitor, frame.session_id, Session.status.is_in(sm.BOT, sm.WAITING)
                                & (Session.visitor_id == visitor.user_id))
        seq = int(session.seq)
        if not self.claim_client_id(visitor, frame, seq):
            self.answer_duplicate(visitor, connection_id, frame)
            return None
        now = self._clock.now_ms()
        msg = Message(frame.session_id, message_sk(seq), seq=seq, message_id=message_id(frame.session_id, seq),
                      sender_id=visitor.user_id, sender_role=visitor.role, sender_name=visitor.name,
                      recipient_id=ROBOT_ID, kind=frame.kind,
                      content=frame.content, client_msg_id=frame.client_msg_id, sender_conn=connection_id,
                      status=DELIVERED, attempts=1, created_at=now, delivered_at=now)
        msg.save(condition=Message.sk.does_not_exist())
        self._presence.post(connection_id, self.delivered_frame(msg), visitor.user_id)
        return session

    def send_from_robot(self, session: Session, content: dict[str, Any]) -> None:
        """A robot message: stored as delivered history and pushed to the visitor (no ACK needed: it is in
        history, and a reconnecting client resumes it). Its sequence number stamps no idle clock."""
        self._sessions.take_seq(session)
        seq = int(session.seq)
        now = self._clock.now_ms()
        msg = Message(session.session_id, message_sk(seq), seq=seq, message_id=message_id(session.session_id, seq),
                      sender_id=ROBOT_ID, sender_role=ROBOT_ROLE, recipient_id=session.visitor_id, kind="robot",
                      content=content, status=DELIVERED, attempts=1, created_at=now, delivered_at=now)
        msg.save()
        self._presence.push(session.visitor_id, _message_frame(msg, 1))

    def why_not_sendable(self, caller: Identity, session_id: str) -> ImError:
        try:
            session = Session.get(session_id, consistent_read=True)
        except DoesNotExist:
            return ImError("not_found", "no such session", session_id=session_id)
        if not participant(session, caller):
            return ImError("forbidden", "you are not a participant of this session", session_id=session_id)
        if session.status == sm.CLOSED:
            return ImError("session_closed", "this session has ended", session_id=session_id)
        return ImError("no_agent", "no agent has joined this session yet; send request_agent first",
                       session_id=session_id)

    def claim_client_id(self, caller: Identity, frame: SendFrame, seq: int) -> bool:
        marker = Message(frame.session_id, marker_sk(caller.user_id, frame.client_msg_id), seq=seq,
                         expires_at=expires(self._clock.now() + MARKER_TTL_SECONDS))
        try:
            marker.save(condition=Message.sk.does_not_exist())
            return True
        except PutError as err:
            if is_condition_failed(err):
                return False
            raise

    def answer_duplicate(self, caller: Identity, connection_id: str, frame: SendFrame) -> None:
        """A resend of a client id already taken: report the original's fate, never store twice."""
        marker = Message.get(frame.session_id, marker_sk(caller.user_id, frame.client_msg_id),
                             consistent_read=True)
        try:
            original = Message.get(frame.session_id, message_sk(int(marker.seq or 0)), consistent_read=True)
        except DoesNotExist:
            self._presence.post(connection_id, self._failed_frame(frame.session_id, frame.client_msg_id),
                                caller.user_id)
            return
        if original.status == DELIVERED:
            self._presence.post(connection_id, self.delivered_frame(original), caller.user_id)
        elif original.status == STORED:
            self._presence.post(connection_id, self.stored_frame(original), caller.user_id)
        # Still pending: its `delivered` or `send_failed` is on the way.

    # -- acknowledgement -------------------------------------------------------------------------

    def ack(self, caller: Identity, ref: MessageRef) -> bool:
        """The recipient confirms a delivery; the first ACK persists the message and tells the sender (True).
        A repeated ACK changes nothing (False); one of a message that is not the caller's, or does not exist,
        raises the ImError that says so. Sequence numbers start at 1: an ACK of ``.0`` is answered unread."""
        if ref.seq < 1:
            raise ImError("unknown_message", "no such message (sequence numbers start at 1)",
                          message_id=ref.message_id)
        msg = Message(ref.session_id, message_sk(ref.seq))
        try:
            msg.update(actions=[Message.status.set(DELIVERED), Message.delivered_at.set(self._clock.now_ms())],
                       condition=Message.status.is_in(PENDING, STORED) & (Message.recipient_id == caller.user_id))
        except UpdateError as err:
            if not is_condition_failed(err):
                raise
            return self._explain_ack(caller, ref)
        message_delivered()
        self._tell_delivered(msg)
        return True

    def ack_many(self, caller: Identity, refs: Sequence[MessageRef]) -> AckOutcome:
        """Several ACKs in one pass: one conditional write per message, side by side (DynamoDB has no
        conditional batch write: a transaction would cost twice the units and fail whole on one repeat), one
        batched read to explain those refused, and one ``delivered`` per sender connection of protocol 2 for
        all of its messages (one per message to others, as a single ACK would)."""
        out = AckOutcome()
        refs = list(dict.fromkeys(refs))
        now = self._clock.now_ms()
        attempts = list(_pool.map(lambda r: self._try_deliver(caller, r, now), refs)) if len(refs) > 1 else \
            [self._try_deliver(caller, r, now) for r in refs]
        refused = [ref for ref, (msg, _) in zip(refs, attempts, strict=True) if msg is None]
        delivered = [msg for msg, _ in attempts if msg is not None]
        out.delivered = [ref for ref, (msg, _) in zip(refs, attempts, strict=True) if msg is not None]
        try:
            if refused:
                self._explain_acks(caller, refused, out, delivered)
        finally:
            # Whatever failed after, the deliveries made are told (their ACK is not repeated to tell them).
            for _ in delivered:
                message_delivered()
            self._tell_delivered_many(delivered)
        errors = [err for _, err in attempts if err is not None]
        if errors:
            raise errors[0]
        return out

    def _try_deliver(self, caller: Identity, ref: MessageRef, now: int) -> tuple[Message | None, Exception | None]:
        """The ACK's write: the message as delivered, or None if its condition failed (or the write did)."""
        msg = Message(ref.session_id, message_sk(ref.seq))
        try:
            msg.update(actions=[Message.status.set(DELIVERED), Message.delivered_at.set(now)],
                       condition=Message.status.is_in(PENDING, STORED) & (Message.recipient_id == caller.user_id))
        except UpdateError as err:
            return None, (None if is_condition_failed(err) else err)
        except Exception as err:  # raised by ack_many once the others are done and told
            return None, err
        return msg, None

    def _explain_acks(self, caller: Identity, refs: list[MessageRef], out: AckOutcome,
                      delivered: list[Message]) -> None:
        """Why each refused ACK changed nothing, read in batches (consistently, as for one ACK)."""
        found: dict[tuple[str, str], Message] = {}
        keys = [(r.session_id, message_sk(r.seq)) for r in refs]
        for item in Message.batch_get(keys, consistent_read=True):
            found[(str(item.session_id), str(item.sk))] = item
        for ref, key in zip(refs, keys, strict=True):
            if (msg := found.get(key)) is None:
                out.unknown.append(ref)
            elif msg.recipient_id == caller.user_id:
                out.repeated.append(ref)
            elif self._take_over(caller, msg, tell=False):
                out.delivered.append(ref)
                if msg.status == DELIVERED and msg.recipient_id == caller.user_id:
                    delivered.append(msg)
            else:
                out.forbidden.append(ref)

    def acks_would_change(self, caller: Identity, refs: Iterable[MessageRef]) -> set[MessageRef]:
        """Of ``refs``, those whose ACK would confirm a delivery: ``ack_would_change`` for several, in one
        batched, eventually consistent read (half a read unit each)."""
        refs = [r for r in refs if r.seq >= 1]
        by_key = {(r.session_id, message_sk(r.seq)): r for r in refs}
        out: set[MessageRef] = set()
        for msg in Message.batch_get(list(by_key), attributes_to_get=["session_id", "sk", "status", "recipient_id"]):
            if msg.status in (PENDING, STORED) and (
                    msg.recipient_id == caller.user_id or (msg.status == STORED and caller.is_staff)):
                out.add(by_key[(str(msg.session_id), str(msg.sk))])
        return out

    def ack_would_change(self, caller: Identity, ref: MessageRef) -> bool:
        """Whether an ACK would confirm a delivery, read without writing (an eventually consistent read, half a
        read unit): for a user past the budget of ACKs that changed nothing. A stale read only costs the refused
        write it would have cost anyway."""
        if ref.seq < 1:
            return False
        try:
            msg = Message.get(ref.session_id, message_sk(ref.seq), attributes_to_get=["status", "recipient_id"])
        except DoesNotExist:
            return False
        # A kept message may also be taken over by the agent now serving its session (see _take_over).
        return msg.status in (PENDING, STORED) and (
            msg.recipient_id == caller.user_id or (msg.status == STORED and caller.is_staff))

    def _tell_delivered(self, msg: Message) -> None:
        frame = self.delivered_frame(msg)
        if not (msg.sender_conn and self._presence.post(msg.sender_conn, frame, msg.sender_id)):
            self._presence.push(str(msg.sender_id), frame)

    def _tell_delivered_many(self, msgs: Iterable[Message]) -> None:
        """``delivered`` for messages ACKed together: one frame per sender connection of protocol 2, covering
        all of its messages; one per message otherwise. Should that connection be gone, the sender's other
        connections are told one frame per message (their versions are not known without a read)."""
        by_conn: dict[tuple[str, str], list[Message]] = {}
        for msg in msgs:
            if msg.sender_conn and int(msg.sender_protocol or 1) >= 2:
                by_conn.setdefault((msg.sender_conn, str(msg.sender_id)), []).append(msg)
            else:
                self._tell_delivered(msg)
        for (conn, sender_id), group in by_conn.items():
            group.sort(key=lambda m: (str(m.session_id), int(m.seq or 0)))
            frame = self.delivered_frame(group[0]) if len(group) == 1 else self.delivered_batch_frame(group)
            if not self._presence.post(conn, frame, sender_id):
                for msg in group:
                    self._presence.push(sender_id, self.delivered_frame(msg))

    def _explain_ack(self, caller: Identity, ref: MessageRef) -> bool:
        try:
            msg = Message.get(ref.session_id, message_sk(ref.seq), consistent_read=True)
        except DoesNotExist:
            raise ImError("unknown_message", "no such message (it may have failed after three attempts)",
                          message_id=ref.message_id) from None
        if msg.recipient_id != caller.user_id:
            if not self._take_over(caller, msg):
                raise ImError("forbidden", "this message was not sent to you", message_id=ref.message_id)
            return True
        # Already delivered: a repeated ACK is harmless and needs no answer.
        return False

    def _take_over(self, caller: Identity, msg: Message, tell: bool = True) -> bool:
        """A visitor's message kept for an agent who left the session (it went back to the queue): the agent
        serving it now may ACK it, which makes it theirs and delivered. Only on the refused-ACK path. Without
        ``tell`` the caller tells the sender (``msg`` then says delivered, and whose)."""
        if msg.status != STORED:
            return False
        try:
            session = Session.get(str(msg.session_id), consistent_read=True)
        except DoesNotExist:
            return False
        if session.agent_id != caller.user_id or msg.sender_id != session.visitor_id:
            return False
        try:
            msg.update(actions=[Message.status.set(DELIVERED), Message.delivered_at.set(self._clock.now_ms()),
                                Message.recipient_id.set(caller.user_id)],
                       condition=(Message.status == STORED) & (Message.recipient_id == msg.recipient_id))
        except UpdateError as err:
            if not is_condition_failed(err):
                raise
            return True  # taken by another ACK meanwhile
        if tell:
            self._tell_delivered(msg)
        return True

    @staticmethod
    def delivered_frame(msg: Message) -> dict[str, Any]:
        return DeliveredEvent(client_msg_id=msg.client_msg_id, message_id=msg.message_id, session_id=msg.session_id,
                              seq=int(msg.seq or 0),
                              delivered_at=None if msg.delivered_at is None else int(msg.delivered_at)).frame()

    @staticmethod
    def delivered_batch_frame(msgs: Sequence[Message]) -> dict[str, Any]:
        """One ``delivered`` for several messages (protocol 2): the first one's fields, and all in ``messages``."""
        items = [DeliveredItem(client_msg_id=m.client_msg_id, message_id=str(m.message_id),
                               session_id=str(m.session_id), seq=int(m.seq or 0),
                               delivered_at=None if m.delivered_at is None else int(m.delivered_at)) for m in msgs]
        return DeliveredEvent(**items[0].model_dump(), messages=items).frame()

    @staticmethod
    def stored_frame(msg: Message) -> dict[str, Any]:
        return StoredEvent(client_msg_id=msg.client_msg_id, message_id=msg.message_id, session_id=msg.session_id,
                           seq=int(msg.seq or 0), reason="recipient_offline").frame()

    @staticmethod
    def _failed_frame(session_id: str, client_msg_id: str | None) -> dict[str, Any]:
        return SendFailedEvent(client_msg_id=client_msg_id, session_id=session_id, reason="not_acknowledged",
                               attempts=MAX_DELIVERY_ATTEMPTS).frame()

    # -- read receipts -------------------------------------------------------------------------------

    def read_many(self, caller: Identity, refs: Sequence[MessageRef]) -> ReadOutcome:
        """Mark messages sent to ``caller`` read (once: ``read_at`` is only ever set, never moved). Read implies
        delivered: an undelivered one is delivered by the same write, and its sender gets ``delivered`` too.
        One conditional write per message (the usual case: ACKed on arrival, read when shown), a second only
        for those not delivered yet, one batched read to explain those refused; then one ``read`` frame per
        sending connection of protocol 2."""
        out = ReadOutcome()
        refs = [r for r in dict.fromkeys(refs)]
        now = self._clock.now_ms()
        first = self._map(lambda r: self._try_read(caller, r, now, deliver=False), refs)
        rest = [ref for ref, (msg, err) in zip(refs, first, strict=True) if msg is None and err is None]
        second = self._map(lambda r: self._try_read(caller, r, now, deliver=True), rest)
        read = [msg for msg, _ in first if msg is not None]
        delivered = [msg for msg, _ in second if msg is not None]
        out.read = [MessageRef(str(m.session_id), int(m.seq or 0)) for m in read + delivered]
        out.delivered = [MessageRef(str(m.session_id), int(m.seq or 0)) for m in delivered]
        refused = [ref for ref, (msg, err) in zip(rest, second, strict=True) if msg is None and err is None]
        try:
            if refused:
                found = {(str(m.session_id), str(m.sk)): m for m in Message.batch_get(
                    [(r.session_id, message_sk(r.seq)) for r in refused], consistent_read=True,
                    attributes_to_get=["session_id", "sk", "recipient_id"])}
                for ref in refused:
                    msg = found.get((ref.session_id, message_sk(ref.seq)))
                    (out.unknown if msg is None else out.repeated if msg.recipient_id == caller.user_id
                     else out.forbidden).append(ref)
        finally:
            for _ in delivered:
                message_delivered()
            self._tell_delivered_many(delivered)
            self._tell_read(read + delivered, now)
        errors = [err for _, err in first + second if err is not None]
        if errors:
            raise errors[0]
        return out

    @staticmethod
    def _map(fn: Callable[[MessageRef], tuple[Message | None, Exception | None]],
             refs: list[MessageRef]) -> list[tuple[Message | None, Exception | None]]:
        return list(_pool.map(fn, refs)) if len(refs) > 1 else [fn(r) for r in refs]

    def _try_read(self, caller: Identity, ref: MessageRef, now: int,
                  deliver: bool) -> tuple[Message | None, Exception | None]:
        """The read's write: of a delivered message not read yet, or (``deliver``) of one still owed to the
        caller, which it delivers too. None if its condition failed (or, with the error, if the write did)."""
        msg = Message(ref.session_id, message_sk(ref.seq))
        mine = Message.recipient_id == caller.user_id
        actions: list[Action]
        if deliver:
            actions = [Message.status.set(DELIVERED), Message.delivered_at.set(now), Message.read_at.set(now)]
            condition = Message.status.is_in(PENDING, STORED) & mine
        else:
            actions = [Message.read_at.set(now)]
            condition = (Message.status == DELIVERED) & mine & Message.read_at.does_not_exist()
        try:
            msg.update(actions=actions, condition=condition)
        except UpdateError as err:
            return None, (None if is_condition_failed(err) else err)
        except Exception as err:  # raised by read_many once the others are done and told
            return None, err
        return msg, None

    def _tell_read(self, msgs: Iterable[Message], read_at: int) -> None:
        """One ``read`` per sending connection of protocol 2 (a protocol-1 client never asked for them; the
        read state is in its history all the same); to the sender's other connections if that one is gone."""
        by_conn: dict[tuple[str, str], list[Message]] = {}
        for msg in msgs:
            if msg.sender_conn and int(msg.sender_protocol or 1) >= 2 and msg.sender_id != ROBOT_ID:
                by_conn.setdefault((msg.sender_conn, str(msg.sender_id)), []).append(msg)
        for (conn, sender_id), group in by_conn.items():
            group.sort(key=lambda m: (str(m.session_id), int(m.seq or 0)))
            frame = ReadEvent(read_at=read_at, messages=[
                ReadItem(client_msg_id=m.client_msg_id, message_id=str(m.message_id), session_id=str(m.session_id),
                         seq=int(m.seq or 0)) for m in group]).frame()
            if not self._presence.post(conn, frame, sender_id):
                self._presence.push(sender_id, frame)

    # -- internal notes --------------------------------------------------------------------------------

    def note(self, caller: Identity, connection_id: str, session_id: str, client_msg_id: str, text: str,
             mentions: Sequence[str] = ()) -> Message | None:
        """An internal note of ``caller`` in an open session, for staff only: the session's agent, a supervisor of
        its group or an admin writes it; ``mentions`` (staff who read the session) are told at once. It takes the
        session's next sequence number without stamping the idle clock (a note is no reply to the visitor), is
        stored as kind ``note``, status ``internal``, and goes to the author's connections, the session's agent
        and those mentioned: never to the visitor. A resend of ``client_msg_id`` is answered with the note kept
        (and None returned).
        Cost: a consistent session read, a read of the mentioned users' presence (when any), the sequence number
        write, the client id marker and the note (3 writes), then one presence read and a post per connection."""
        session = self.session_of(caller, session_id, observe=True)
        if session.status == sm.CLOSED:
            raise ImError("session_closed", "this session has ended", session_id=session_id)
        if not reads_notes(caller, session):
            raise ImError("forbidden", "notes are written by the session's agent, a supervisor of its group or an "
                          "admin", session_id=session_id)
        targets = self._mention_targets(caller, session, mentions)
        condition = Session.status.is_in(sm.BOT, sm.WAITING, sm.ACTIVE)
        if caller.role == "agent":
            condition &= Session.agent_id == caller.user_id  # a transfer meanwhile takes the agent's right away
        taken = self._sessions.take_seq(session_id, staff=None, condition=condition)
        if taken is None:
            latest = self._sessions.get(session_id)
            if latest is None or latest.status == sm.CLOSED:
                raise ImError("session_closed", "this session has ended", session_id=session_id)
            raise ImError("forbidden", "this session is no longer yours", session_id=session_id)
        seq = int(taken.seq)
        content: dict[str, Any] = {"text": text, **({"mentions": list(mentions)} if mentions else {})}
        if not self.claim_client_id(caller, SendFrame(session_id, client_msg_id, NOTE, content), seq):
            self._answer_duplicate_note(caller, connection_id, session_id, client_msg_id)
            return None
        msg = Message(session_id, message_sk(seq), seq=seq, message_id=message_id(session_id, seq),
                      sender_id=caller.user_id, sender_role=caller.role, sender_name=caller.name, kind=NOTE,
                      content=content, client_msg_id=client_msg_id, sender_conn=connection_id, status=INTERNAL,
                      created_at=self._clock.now_ms())
        msg.save(condition=Message.sk.does_not_exist())
        self._tell_note(caller, session, msg, targets)
        return msg

    def _mention_targets(self, caller: Identity, session: Session,
                         mentions: Sequence[str]) -> dict[str, tuple[str, set[str]]]:
        """The mentioned users (role and connections, one batched read of their presence), each one checked: a
        staff member who has signed in, not the author, and able to read the session's notes (its agent, or a
        supervisor or an admin: a supervisor's groups are checked on each of its connections, from its token)."""
        if not mentions:
            return {}
        found = {p.user_id: (str(p.role), set(p.conns or ())) for p in Presence.batch_get(
            list(mentions), attributes_to_get=["user_id", "role", "conns"])}
        for i, who in enumerate(mentions):
            field = f"mentions[{i}]"
            if who == caller.user_id:
                raise ImError("invalid_frame", "'mentions' names the note's author", field=field,
                              session_id=session.session_id)
            role = found.get(who, ("", set()))[0]
            if role not in STAFF_ROLES:
                raise ImError("invalid_frame", f"no staff member '{who}' has signed in", field=field,
                              session_id=session.session_id)
            if role == "agent" and who != session.agent_id:
                raise ImError("invalid_frame", f"'{who}' cannot read this session's notes: mention its agent, a "
                              "supervisor of its group or an admin", field=field, session_id=session.session_id)
        return {who: found[who] for who in mentions}

    def _tell_note(self, caller: Identity, session: Session, msg: Message,
                   mentioned: dict[str, tuple[str, set[str]]]) -> None:
        """The note to the author's connections and the session's agent (one batched presence read), and to each
        connection of those mentioned whose token lets them read it (with ``mentioned`` and the session)."""
        plain = NoteEvent.model_validate({"message": message_json(msg)}).frame()
        frames = {who: plain for who in (caller.user_id, session.agent_id) if who and who not in mentioned}
        if frames:
            self._presence.push_many(frames)
        if not mentioned:
            return
        loud = NoteEvent.model_validate({"message": message_json(msg), "mentioned": True,
                                         "session": self._sessions.view(session, staff=True)}).frame()
        for who, (role, conns) in mentioned.items():
            for conn in sorted(conns):
                if who != session.agent_id and role == "supervisor":
                    try:
                        reader = self._presence.identity(conn)
                    except ImError:
                        continue  # its token has expired: nothing more is pushed to it
                    if reader is None or not reads_notes(reader, session):
                        continue  # a supervisor of other groups: told nothing about this session
                self._presence.post(conn, loud, who)

    def _answer_duplicate_note(self, caller: Identity, connection_id: str, session_id: str,
                               client_msg_id: str) -> None:
        """A resent note (its client id taken already): the note kept is posted again to the sending connection."""
        marker = Message.get(session_id, marker_sk(caller.user_id, client_msg_id), consistent_read=True)
        try:
            original = Message.get(session_id, message_sk(int(marker.seq or 0)), consistent_read=True)
        except DoesNotExist:
            return  # its write failed after the marker: the client sends it again under a new id
        if original.kind == NOTE:
            self._presence.post(connection_id, NoteEvent.model_validate({"message": message_json(original)}).frame(),
                                caller.user_id)

    # -- typing --------------------------------------------------------------------------------------

    def typing(self, caller: Identity, session_id: str, state: str) -> int:
        """Relay ``caller``'s typing state to the other side of an active session; nobody while the robot has
        it or it waits in a queue. Nothing is written: one (eventually consistent) session read, one presence
        read and one post per connection of the other side. Returns how many connections took it."""
        try:
            session = Session.get(session_id)
        except DoesNotExist:
            raise ImError("not_found", "no such session", session_id=session_id) from None
        if not participant(session, caller):
            raise ImError("forbidden", "you are not a participant of this session", session_id=session_id)
        if session.status == sm.CLOSED:
            raise ImError("session_closed", "this session has ended", session_id=session_id)
        if session.status != sm.ACTIVE or session.agent_id is None:
            return 0  # the robot (or a queue) has it: nobody to tell
        recipient = session.visitor_id if caller.is_staff else session.agent_id
        frame = TypingEvent.model_validate({"session_id": session_id, "state": state, "sender_role": caller.role,
                                            "ttl_ms": TYPING_TTL_MS}).frame()
        return self._presence.push(str(recipient), frame)

    # -- steps run by the delivery state machine -------------------------------------------------

    def resend(self, session_id: str, sk: str, attempt: int) -> int:
        """Attempt ``attempt + 1`` of an unACKed delivery; returns the attempt now made."""
        try:
            msg = Message.get(session_id, sk, consistent_read=True)
        except DoesNotExist:
            return attempt
        if msg.status != PENDING:
            return attempt
        nxt = attempt + 1
        try:
            msg.update(actions=[Message.attempts.set(nxt)], condition=Message.status == PENDING)
        except UpdateError as err:
            if is_condition_failed(err):
                return attempt  # ACKed in between
            raise
        self._presence.push(str(msg.recipient_id), _message_frame(msg, nxt))
        return nxt

    def fail(self, session_id: str, sk: str) -> bool:
        """Give up on an unACKed delivery: remove the message and tell its sender. False if it was ACKed."""
        try:
            msg = Message.get(session_id, sk, consistent_read=True)
        except DoesNotExist:
            return False
        try:
            msg.delete(condition=Message.status == PENDING)
        except Exception as err:
            if is_condition_failed(err):
                return False
            raise
        frame = self._failed_frame(session_id, msg.client_msg_id)
        if not (msg.sender_conn and self._presence.post(msg.sender_conn, frame, msg.sender_id)):
            self._presence.push(str(msg.sender_id), frame)
        return True

    # -- reading ---------------------------------------------------------------------------------

    def session_of(self, caller: Identity, session_id: str, observe: bool = False) -> Session:
        """The session, if ``caller`` takes part in it (or, with ``observe``, oversees it)."""
        if not is_session_id(session_id):
            raise ImError("not_found", "no such session", session_id=session_id[:64])
        try:
            session = Session.get(session_id, consistent_read=True)
        except DoesNotExist:
            raise ImError("not_found", "no such session", session_id=session_id) from None
        if not participant(session, caller) and not (observe and (supervises(caller, session)
                                                                  or self._sessions.in_group_of(caller, session))):
            raise ImError("forbidden", "you are not a participant of this session", session_id=session_id)
        return session

    def resume(self, caller: Identity, session_id: str, after_seq: int) -> dict[str, Any]:
        """What ``caller`` missed after ``after_seq``: delivered messages, deliveries still owed to it
        (status ``pending`` or ``stored``, to be ACKed) and its own messages still in flight. Deliveries owed to it
        up to RESUME_LOOKBACK below ``after_seq`` come too: frames arrive out of order, so a client's highest
        shown ``seq`` can pass a message it never got (posted while it was away, or a lost frame)."""
        session = self.session_of(caller, session_id)
        first = max(1, after_seq + 1 - RESUME_LOOKBACK)
        rows = list(Message.query(session_id, Message.sk.between(message_sk(first), _LAST_SK),
                                  consistent_read=True, limit=RESUME_PAGE + 1 + (after_seq + 1 - first)))
        # The agent serving the session now also gets what the visitor wrote to an agent who left it.
        inherited = caller.is_staff and caller.user_id == session.agent_id

        def owed(m: Message) -> bool:
            return ((m.status in (PENDING, STORED) and m.recipient_id == caller.user_id)
                    or (inherited and m.status == STORED and m.sender_id == session.visitor_id))

        notes = reads_notes(caller, session)

        def shown(m: Message) -> bool:
            if not for_visitor(m):
                return notes  # staff who read the session's notes get them in place; nobody else, ever
            return m.status == DELIVERED or caller.user_id in (m.recipient_id, m.sender_id) or owed(m)

        earlier = [m for m in rows if int(m.seq or 0) <= after_seq and owed(m) and for_visitor(m)]
        items = [m for m in rows if int(m.seq or 0) > after_seq]
        more = len(items) > RESUME_PAGE
        items = items[:RESUME_PAGE]
        visible = earlier + [m for m in items if shown(m)]
        return ResumedEvent.model_validate({
            "session_id": session_id, "messages": [message_json(m) for m in visible],
            "last_seq": int(items[-1].seq or 0) if more else int(session.seq or 0), "more": more}).frame()

    def history(self, caller: Identity, session_id: str, after_seq: int, limit: int) -> dict[str, Any]:
        """Delivered (and stored, awaiting an offline visitor) messages in sequence order, one page at a time;
        for participants, the supervisors of the session's group and the staff who serve that group (a chat
        found by conversation search opens read-only). Staff who read the session's notes get them in place; a
        visitor never does."""
        notes = reads_notes(caller, self.session_of(caller, session_id, observe=True))
        out: list[dict[str, Any]] = []
        last_seen = after_seq
        more = False
        # Pending items are skipped, so a page may need more than one query.
        for msg in Message.query(session_id, Message.sk.between(message_sk(after_seq + 1), _LAST_SK),
                                 consistent_read=True, page_size=limit + 1):
            if len(out) == limit:
                more = True
                break
            last_seen = int(msg.seq or 0)
            if (msg.status in (DELIVERED, STORED) and for_visitor(msg)) or (notes and not for_visitor(msg)):
                out.append(message_json(msg))
        return {"messages": out, "next_after_seq": last_seen if more else None}
