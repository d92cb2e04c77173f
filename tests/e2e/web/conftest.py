"""Settings every browser test shares."""

from __future__ import annotations

from playwright.sync_api import expect

# How long an ``expect`` waits for the page to show what the stack did. On the 2-core CI machine, with other
# workers starting stacks and a 500-visitor burst beside them, a robot's reply or a reconnect has taken over
# Playwright's default of 5 s. A wait that is not met still fails, only later.
expect.set_options(timeout=15_000)
