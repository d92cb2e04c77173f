"""The shop's orders and catalogue, as the agent console sees them: one interface, a demo backend over
tables the local stack seeds, and an HTTP hook to the shop's own systems on AWS."""
