"""The WebSocket channel every conversation runs over: who is connected where (connections, presence, pushing
frames to a user) and the error codes a client can be refused with. Below sessions and IM, which both use it."""
