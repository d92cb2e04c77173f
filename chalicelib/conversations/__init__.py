"""Conversation search for staff: closed sessions indexed with their transcripts (embedded locally, OpenSearch
on AWS), found by customer, order number, text, date, group, agent, rating and wrap-up reason."""
