"""The supervisor dashboard and the robot management console in real headless Chromium against the local
stack (one stack for the module, from conftest)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from playwright.sync_api import APIRequestContext, Browser, FilePayload, Page, WebSocketRoute, expect

from local.harness import Peer, Stack, connect, run_stack
from local.stack import REGION
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[3] / "docs"
T = TypeVar("T")
# Rebuilding the search index embeds every FAQ: seconds, and many of them on a busy machine.
INDEXING_MS = 90_000

browser = pages.browser  # one Chromium for the module (the fixture of the page tests)


@pytest.fixture(scope="module")
def kb_loaded(stack: Stack) -> None:
    """The search index of the module's stack loaded (the first search or write loads it), so that the
    robot console's steps answer at once."""
    def post(path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        request = urllib.request.Request(f"{stack.base}/api{path}", json.dumps(body).encode(), headers)
        with urllib.request.urlopen(request, timeout=INDEXING_MS / 1000) as answer:
            return json.loads(answer.read())

    token = post("/auth/login", {"username": "admin", "password": "demo"})["token"]
    assert post("/robot/try", {"query": "where is my parcel"}, token)["hits"]


def sign_in(page: Page, stack: Stack, path: str, user: str, password: str = "demo") -> None:
    page.goto(f"{stack.base}{path}")
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-pass").fill(password)
    page.get_by_test_id("login-submit").click()


def admin_api(page: Page, stack: Stack) -> tuple[APIRequestContext, dict[str, str]]:
    """The page's request context and an admin's Authorization header, for setting up data."""
    answer = page.request.post(f"{stack.base}/api/auth/login", data={"username": "admin", "password": "demo"})
    assert answer.ok, answer.text()
    return page.request, {"Authorization": f"Bearer {answer.json()['token']}"}


# -- sign-in and roles -----------------------------------------------------------------------------

def test_sign_in_and_role_gating_on_both_consoles(stack: Stack, browser: Browser) -> None:
    page = browser.new_context().new_page()

    sign_in(page, stack, "/dashboard", "carol", "wrong")
    expect(page.get_by_test_id("login-error")).to_contain_text("password")
    page.get_by_test_id("login-pass").fill("demo")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("me")).to_have_text("Carol Wang · supervisor")
    expect(page.get_by_test_id("dash-conn")).to_have_text("live")
    expect(page.locator("#nav a")).to_have_text(["Agent console", "Tickets", "Dashboard", "Reports"])
    page.reload()  # the sign-in outlasts a reload
    expect(page.get_by_test_id("dash-groups")).to_be_visible()

    # A supervisor is not an admin: the robot console says so and shows nothing of the knowledge base.
    page.goto(f"{stack.base}/robot")
    expect(page.get_by_test_id("denied")).to_contain_text("Robot management is for admins")
    expect(page.get_by_test_id("denied")).to_contain_text("Carol Wang (supervisor)")
    expect(page.get_by_test_id("faq-table")).to_be_hidden()
    page.get_by_test_id("denied-signout").click()
    expect(page.get_by_test_id("login-user")).to_be_visible()
    assert page.evaluate("localStorage.getItem('cs.agent')") is None

    sign_in(page, stack, "/robot", "admin")
    expect(page.get_by_test_id("faq-caption")).to_contain_text("Page 1")
    expect(page.locator("[data-testid=faq-row]")).to_have_count(50)
    expect(page.locator("#nav a")).to_have_text(["Agent console", "Tickets", "Dashboard", "Reports", "Robot"])
    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("login-user")).to_be_visible()
    expect(page.get_by_test_id("faq-table")).to_be_hidden()

    # An agent may use neither page.
    sign_in(page, stack, "/dashboard", "alice")
    expect(page.get_by_test_id("denied")).to_contain_text("The dashboard is for supervisors and admins")
    expect(page.get_by_test_id("dash-groups")).to_be_hidden()
    page.goto(f"{stack.base}/robot")
    expect(page.get_by_test_id("denied")).to_contain_text("Robot management is for admins")
    page.context.close()


# -- dashboard -------------------------------------------------------------------------------------

def test_staff_pages_sign_in_through_cognito_and_set_the_first_password(stack: Stack, browser: Browser) -> None:
    """Where Cognito signs staff in, the page calls its InitiateAuth itself (the app never sees a password) and
    answers the first sign-in's NEW_PASSWORD_REQUIRED. Cognito is played by a route; its ID token by a token
    the stack accepts."""
    page = browser.new_context().new_page()
    token = page.request.post(f"{stack.base}/api/auth/login",
                              data={"username": "carol", "password": "demo"}).json()["token"]
    # The stack's own region: the pages' CSP lets them reach Cognito there and nowhere else.
    page.route(f"{stack.base}/api/auth/config", lambda route: route.fulfill(
        json={"provider": "cognito", "region": REGION, "client_id": "client-123"}))
    calls: list[tuple[str, dict[str, Any]]] = []
    cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "content-type,x-amz-target",
            "Access-Control-Allow-Methods": "POST"}

    def cognito(route: Any) -> None:
        if route.request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
            return
        target = route.request.headers["x-amz-target"].rsplit(".", 1)[1]
        body = json.loads(route.request.post_data or "{}")
        calls.append((target, body))
        if target == "InitiateAuth" and body["AuthParameters"]["PASSWORD"] != "Temp-pass-1":
            route.fulfill(status=400, headers=cors, json={"__type": "NotAuthorizedException",
                                                          "message": "Incorrect username or password."})
        elif target == "InitiateAuth":
            route.fulfill(headers=cors, json={"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "sess-1"})
        else:
            route.fulfill(headers=cors, json={"AuthenticationResult": {"IdToken": token}})

    page.route(f"https://cognito-idp.{REGION}.amazonaws.com/", cognito)
    page.goto(f"{stack.base}/dashboard")
    # Cognito's refusal is told in the page's own words (its catalogue's), as the local sign-in's is.
    for password, says in (("wrong", "Wrong username or password."), ("Temp-pass-1", "Choose your own now")):
        page.locator("#user").fill("carol")
        page.locator("#pass").fill(password)
        page.locator("#login-form button[type=submit]").click()
        expect(page.locator("#login-error")).to_contain_text(says)
    page.locator("#pass").fill("My-own-password-2")
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#me")).to_contain_text("supervisor")
    assert [target for target, _ in calls] == ["InitiateAuth", "InitiateAuth", "RespondToAuthChallenge"]
    assert calls[1][1] == {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "client-123",
                           "AuthParameters": {"USERNAME": "carol", "PASSWORD": "Temp-pass-1"}}
    assert calls[2][1] == {"ChallengeName": "NEW_PASSWORD_REQUIRED", "ClientId": "client-123", "Session": "sess-1",
                           "ChallengeResponses": {"USERNAME": "carol", "NEW_PASSWORD": "My-own-password-2"}}
    page.context.close()


def test_dashboard_shows_a_visitor_joining_and_leaving_the_queue_live(stack: Stack, browser: Browser) -> None:
    board = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(board, stack, "/dashboard", "carol")
    expect(board.get_by_test_id("dash-conn")).to_have_text("live")
    general = board.locator("[data-testid=dash-group][data-group=general]")
    expect(general.locator("[data-field=waiting]")).to_have_text("0")
    expect(general.locator("[data-field=load]")).to_have_text("no agent online")
    expect(board.get_by_test_id("dash-total-waiting")).to_have_text("0")
    expect(board.get_by_test_id("dash-chart-waits")).to_contain_text("Nobody is waiting")
    board.evaluate("window.__sameDocument = true")

    # No agent of the general group is online: a visitor who asks for a person waits in its queue.
    visitor = browser.new_context().new_page()
    visitor.goto(stack.base + "/")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-queue")).to_be_visible()

    expect(general.locator("[data-field=waiting]")).to_have_text("1")
    expect(board.get_by_test_id("dash-total-waiting")).to_have_text("1")
    expect(general.locator("[data-field=longest]")).not_to_have_text("—")
    expect(board.get_by_test_id("dash-chart-waits")).not_to_contain_text("Nobody is waiting")
    expect(board.locator("[data-testid=dash-chart-waits] rect")).to_have_count(1)
    expect(board.locator("[data-testid=dash-chart-waiting] path")).not_to_have_count(0)

    # Leaving gives up the place: the card asks first, and "Stay" keeps it.
    visitor.get_by_test_id("vis-leave-queue").click()
    visitor.get_by_test_id("vis-leave-stay").click()
    expect(visitor.get_by_test_id("vis-leave-queue")).to_be_focused()
    expect(general.locator("[data-field=waiting]")).to_have_text("1")
    visitor.get_by_test_id("vis-leave-queue").click()
    visitor.get_by_test_id("vis-leave-yes").click()
    expect(visitor.locator(".system").last).to_have_text("You left the queue.")
    expect(visitor.get_by_test_id("vis-leave-reason")).to_have_text(
        "You have left the queue. Leave a message and we will get back to you.")
    expect(visitor.get_by_test_id("vis-queue")).to_be_hidden()
    expect(general.locator("[data-field=waiting]")).to_have_text("0")
    expect(general.locator("[data-field=longest]")).to_have_text("—")
    assert board.evaluate("window.__sameDocument") is True  # all of it without a reload
    visitor.context.close()
    board.context.close()


def test_dashboard_shows_pushed_names_as_text_and_csat_when_present(stack: Stack, browser: Browser) -> None:
    board = browser.new_context().new_page()
    routes: list[WebSocketRoute] = []
    hold_server_figures = threading.Event()

    def through_proxy(route: WebSocketRoute) -> None:
        server = route.connect_to_server()

        def to_page(message: str | bytes) -> None:
            # Once the test speaks for the server, the server's own figures would overwrite its frames.
            if hold_server_figures.is_set() and isinstance(message, str) and '"dashboard.' in message:
                return
            route.send(message)

        server.on_message(to_page)
        routes.append(route)

    board.route_web_socket(re.compile(r".*/ws\?token=.*"), through_proxy)
    sign_in(board, stack, "/dashboard", "admin")
    expect(board.get_by_test_id("dash-conn")).to_have_text("live")
    general = board.locator("[data-testid=dash-group][data-group=general]")
    expect(general.locator("[data-field=csat]")).to_have_text("—")

    hostile = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
    figures = {"waiting": 0, "online_capacity": 0, "agents_available": 0, "assigned_total": 12,
               "average_wait_seconds": 8.5, "average_handle_seconds": 240.0, "overflow_events": 0,
               "longest_wait_seconds": 0, "current_average_wait_seconds": 0, "waits_seconds": [],
               "agents": {"online": 0, "busy": 0, "offline": 2}, "active_sessions": 0, "load": None}
    hold_server_figures.set()
    routes[-1].send(json.dumps({"event": "dashboard.snapshot", "at": int(time.time() * 1000), "groups": [
        {**figures, "id": "general", "name": "General support", "csat": {"avg": 4.5, "count": 12}},
        {**figures, "id": "shoes", "name": "Shoes", "csat": {"avg": None, "count": 0}},
        {**figures, "id": "night", "name": hostile},
    ]}))
    routes[-1].send(json.dumps({"event": "dashboard.overflow", "group_id": "night", "reason": hostile,
                                "to": "general", "session_id": "s_0", "at": int(time.time() * 1000)}))

    expect(general.locator("[data-field=csat]")).to_contain_text("4.5")
    expect(general.locator("[data-field=csat]")).to_contain_text("12 surveys")
    expect(board.locator("[data-testid=dash-group][data-group=shoes] [data-field=csat]")).to_have_text("—")
    night = board.locator("[data-testid=dash-group][data-group=night]")
    expect(night.locator("[data-field=name]")).to_have_text(hostile)
    expect(night.locator("[data-field=csat]")).to_have_text("—")
    event = board.locator("[data-testid=dash-event][data-kind=overflow]")
    expect(event).to_contain_text(hostile)
    expect(event).to_contain_text("sent to General support")
    assert board.locator("#app img, #app script").count() == 0
    assert board.evaluate("window.__pwned") is None
    board.context.close()


# -- robot console ---------------------------------------------------------------------------------

@pytest.mark.usefixtures("kb_loaded")
def test_robot_console_creates_finds_tries_edits_and_deletes_a_faq(stack: Stack, browser: Browser) -> None:
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    sign_in(page, stack, "/robot", "admin")
    expect(page.get_by_test_id("faq-caption")).to_contain_text("Page 1")

    page.get_by_test_id("faq-new").click()
    page.get_by_test_id("faq-id").fill("orders-origami-wrapping")
    page.get_by_test_id("faq-question").fill("Can you wrap my parcel in origami paper?")
    page.get_by_test_id("faq-similar").fill("origami gift wrap\n\nfolded paper wrapping")
    page.get_by_test_id("faq-category").fill("orders")
    page.get_by_test_id("faq-tags").fill("gift, wrapping")
    page.get_by_test_id("faq-save").click()
    # The server's validation message shows next to its field; nothing is created.
    expect(page.get_by_test_id("error-answer")).to_contain_text("'answer' is required")
    expect(page.get_by_test_id("faq-answer")).to_have_attribute("aria-invalid", "true")

    page.get_by_test_id("faq-answer").fill("Yes: choose Origami wrap at checkout (2.00 USD). Details: https://shop.example.com/gifts")
    expect(page.get_by_test_id("faq-preview").locator("a")).to_have_attribute("href", "https://shop.example.com/gifts")
    page.get_by_test_id("faq-save").click()
    expect(page.get_by_test_id("faq-status")).to_have_text("Created “orders-origami-wrapping”.")
    expect(page.get_by_test_id("error-answer")).to_be_empty()
    expect(page.get_by_test_id("faq-editor-meta")).to_contain_text("version 1")

    # A second FAQ with the same id is refused next to the id.
    page.get_by_test_id("faq-new").click()
    page.get_by_test_id("faq-id").fill("orders-origami-wrapping")
    page.get_by_test_id("faq-question").fill("Another one?")
    page.get_by_test_id("faq-answer").fill("No.")
    page.get_by_test_id("faq-save").click()
    expect(page.get_by_test_id("error-faq_id")).to_contain_text("already exists")

    # Search asks the robot's matcher: the new FAQ comes first, with its score.
    page.get_by_test_id("faq-search").fill("wrap my present in origami")
    page.get_by_test_id("faq-search-submit").click()
    first = page.locator("[data-testid=faq-row]").first
    expect(first).to_have_attribute("data-faq-id", "orders-origami-wrapping")
    expect(first.get_by_test_id("faq-score")).to_have_text(re.compile(r"^0\.\d{3}$"))
    expect(page.get_by_test_id("faq-caption")).to_contain_text("for “wrap my present in origami”")

    page.get_by_test_id("tab-try").click()
    page.get_by_test_id("try-input").fill("can the parcel be wrapped in origami paper")
    page.get_by_test_id("try-submit").click()
    top = page.locator("[data-testid=try-hit]").first
    expect(top).to_have_attribute("data-faq-id", "orders-origami-wrapping")
    expect(top.get_by_test_id("try-score")).to_have_text(re.compile(r"^0\.\d{3}$"))
    expect(page.get_by_test_id("try-decision")).to_contain_text(re.compile(r"confidence 0\.\d{3} [≥<] threshold"))
    decision = page.get_by_test_id("try-decision").inner_text()
    compared = re.search(r"confidence (0\.\d{3}) ([≥<]) threshold (\d\.\d\d)", decision)
    assert compared is not None, decision
    answers = compared[2] == "≥"
    assert (float(compared[1]) >= float(compared[3])) == answers
    assert decision.startswith("The robot would answer" if answers else "The robot would not answer on its own")
    if answers:
        expect(top).to_contain_text("answers")

    # Opening a hit edits it; the update goes with the version read.
    top.get_by_role("button").first.click()
    expect(page.get_by_test_id("tab-faqs")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("faq-editor-title")).to_have_text("Edit FAQ")
    expect(page.get_by_test_id("faq-id")).to_have_value("orders-origami-wrapping")
    page.get_by_test_id("faq-answer").fill("Yes: pick Origami wrap at checkout; it is free this month.")
    page.get_by_test_id("faq-enabled").uncheck()
    page.get_by_test_id("faq-save").click()
    expect(page.get_by_test_id("faq-status")).to_have_text("Saved: version 2.")
    row = page.locator("[data-testid=faq-row][data-faq-id='orders-origami-wrapping']")
    expect(row).to_contain_text("disabled")

    request, auth = admin_api(page, stack)
    stored = request.get(f"{stack.base}/api/faqs/orders-origami-wrapping", headers=auth).json()
    assert stored["answer"] == "Yes: pick Origami wrap at checkout; it is free this month."
    assert stored["similar"] == ["origami gift wrap", "folded paper wrapping"]
    assert stored["tags"] == ["gift", "wrapping"]
    assert stored["enabled"] is False
    assert stored["version"] == 2

    # Someone else saves it meanwhile: the next save is refused, and the admin's edit is kept.
    changed = request.put(f"{stack.base}/api/faqs/orders-origami-wrapping", headers=auth, data={"category": "gifts"})
    assert changed.ok, changed.text()
    page.get_by_test_id("faq-question").fill("Can you wrap my parcel in origami paper, please?")
    page.get_by_test_id("faq-save").click()
    expect(page.get_by_test_id("faq-form-error")).to_contain_text("Someone else saved this FAQ after you opened it")
    expect(page.get_by_test_id("faq-question")).to_have_value("Can you wrap my parcel in origami paper, please?")
    page.get_by_role("button", name="Load the current version").click()
    expect(page.get_by_test_id("faq-editor-meta")).to_contain_text("version 3")
    expect(page.get_by_test_id("faq-category")).to_have_value("gifts")
    expect(page.get_by_test_id("faq-question")).to_have_value("Can you wrap my parcel in origami paper?")

    page.get_by_test_id("faq-delete").click()
    expect(page.get_by_test_id("faq-delete")).to_have_text("Click again to delete")
    page.get_by_test_id("faq-delete").click()
    expect(page.get_by_test_id("faq-status")).to_have_text("Deleted “orders-origami-wrapping”.")
    expect(row).to_have_count(0)
    assert request.get(f"{stack.base}/api/faqs/orders-origami-wrapping", headers=auth).status == 404
    page.context.close()


@pytest.mark.usefixtures("kb_loaded")
def test_robot_settings_are_checked_by_the_server_and_persist(stack: Stack, browser: Browser) -> None:
    page = browser.new_context().new_page()
    sign_in(page, stack, "/robot", "admin")
    page.get_by_test_id("tab-settings").click()
    expect(page.get_by_test_id("settings-greeting")).not_to_have_value("")

    page.get_by_test_id("settings-threshold-default").uncheck()
    page.get_by_test_id("settings-threshold").fill("1.5")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("error-threshold")).to_contain_text("'threshold' must be a number from 0 to 1")

    page.get_by_test_id("settings-greeting").fill("Welcome to Harbor Lane! Ask me about orders, delivery or returns.")
    page.get_by_test_id("settings-threshold").fill("0.62")
    page.get_by_test_id("settings-keywords").fill("agent\nhuman\ntalk to someone\n人工")
    page.get_by_test_id("settings-misses").fill("3")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-status")).to_contain_text("Saved")
    expect(page.get_by_test_id("error-threshold")).to_be_empty()

    page.reload()  # back on the same tab (#settings), read from the server again
    expect(page.get_by_test_id("tab-settings")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("settings-greeting")).to_have_value(
        "Welcome to Harbor Lane! Ask me about orders, delivery or returns.")
    expect(page.get_by_test_id("settings-threshold")).to_have_value("0.62")
    expect(page.get_by_test_id("settings-threshold-default")).not_to_be_checked()
    expect(page.get_by_test_id("settings-keywords")).to_have_value("agent\nhuman\ntalk to someone\n人工")
    expect(page.get_by_test_id("settings-misses")).to_have_value("3")

    page.get_by_test_id("settings-suggested").fill("returns-return-policy\nno-such-faq")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("error-suggested_questions")).to_contain_text("no FAQ with id 'no-such-faq' (line 2)")
    page.get_by_test_id("settings-suggested").fill("returns-return-policy")

    # Synonyms: the demo shop's groups, one a line; a term in two groups is refused at its line.
    synonyms = page.get_by_test_id("settings-synonyms")
    expect(synonyms).to_have_value(re.compile(r"^优惠, 折扣, 打折\n"))
    synonyms.fill("优惠，折扣、打折\nparcel, package\n\nbox, Parcel")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("error-synonyms")).to_contain_text("'Parcel' is already in group 2 (parcel, package)")
    expect(page.get_by_test_id("error-synonyms")).to_contain_text("(line 4)")
    synonyms.fill("优惠，折扣、打折\nparcel, package")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-status")).to_contain_text("Saved")
    page.reload()
    expect(page.get_by_test_id("settings-synonyms")).to_have_value("优惠, 折扣, 打折\nparcel, package")
    page.context.close()


@pytest.mark.usefixtures("kb_loaded")
def test_robot_import_names_the_bad_line_and_a_good_file_imports(stack: Stack, browser: Browser) -> None:
    page = browser.new_context().new_page()
    sign_in(page, stack, "/robot", "admin")
    page.get_by_test_id("tab-transfer").click()
    bad = "id,question,answer\nimport-ok-1,Do you ship to Macau?,Yes.\nimport-bad-2,Do you ship to Mars?,\n"
    page.get_by_test_id("import-file").set_input_files(
        files=FilePayload(name="shipping.csv", mimeType="text/csv", buffer=bad.encode()))
    page.get_by_test_id("import-submit").click()
    problem = page.get_by_test_id("import-error")
    expect(problem).to_have_attribute("data-line", "3")
    expect(problem).to_contain_text("Nothing was imported. shipping.csv, line 3")
    expect(problem).to_contain_text("field answer")
    request, auth = admin_api(page, stack)
    assert request.get(f"{stack.base}/api/faqs/import-ok-1", headers=auth).status == 404  # all rows or none

    rows = [{"id": "import-ok-1", "question": "Do you ship to Macau?", "answer": "Yes, in 3 to 5 days."},
            {"id": "import-ok-2", "question": "Do you ship to Taiwan?", "answer": "Yes, in 4 to 7 days.",
             "similar": ["delivery to taiwan"]}]
    good = "".join(json.dumps(r) + "\n" for r in rows)
    page.get_by_test_id("import-file").set_input_files(
        files=FilePayload(name="shipping.jsonl", mimeType="application/x-ndjson", buffer=good.encode()))
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-ok")).to_contain_text("Imported shipping.jsonl")
    expect(page.get_by_test_id("import-ok")).to_contain_text("2 FAQs written (2 new).")
    assert request.get(f"{stack.base}/api/faqs/import-ok-2", headers=auth).json()["similar"] == ["delivery to taiwan"]

    with page.expect_download() as download:
        page.get_by_test_id("export-jsonl").click()
    assert download.value.suggested_filename == "faqs.jsonl"
    exported = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert {"import-ok-1", "import-ok-2"} <= {r["id"] for r in exported}
    expect(page.get_by_test_id("export-status")).to_contain_text("Downloaded faqs.jsonl")

    page.get_by_test_id("reindex").click()
    # The server answers at once with a queued job; the page polls it, button off and progress shown, to the end.
    expect(page.get_by_test_id("reindex-status")).to_contain_text(re.compile(r"Rebuild queued|Rebuilding the index"))
    expect(page.get_by_test_id("reindex")).to_be_disabled()
    expect(page.get_by_test_id("reindex-status")).to_contain_text(re.compile(r"Index rebuilt: [\d,]+ enabled FAQs"),
                                                                  timeout=INDEXING_MS)
    expect(page.get_by_test_id("reindex")).to_be_enabled()
    expect(page.get_by_test_id("reindex-progress")).to_be_hidden()
    page.context.close()


@pytest.mark.usefixtures("kb_loaded")
def test_robot_console_shows_hostile_faq_content_as_text_and_runs_nothing(stack: Stack, browser: Browser) -> None:
    page = browser.new_context().new_page()
    sign_in(page, stack, "/robot", "admin")
    expect(page.get_by_test_id("faq-caption")).to_contain_text("Page 1")
    request, auth = admin_api(page, stack)
    question = "<script>window.__pwned = 1</script> Where is my zebra-striped parcel?"
    answer = ('<img src=x onerror="window.__pwned = 2"> Track it here: javascript:window.__pwned=3 '
              '<a href="javascript:window.__pwned=4">open</a> or https://shop.example.com/track')
    created = request.post(f"{stack.base}/api/faqs", headers=auth, data={
        "faq_id": "hostile-zebra", "question": question, "answer": answer, "category": "<b>orders</b>",
        "tags": ['<img src=y onerror="window.__pwned = 5">'], "similar": ["zebra parcel tracking"]})
    assert created.status == 201, created.text()

    page.get_by_test_id("faq-search").fill("hostile-zebra")  # an id: read directly
    page.get_by_test_id("faq-search-submit").click()
    row = page.locator("[data-testid=faq-row][data-faq-id='hostile-zebra']")
    expect(row).to_contain_text("<script>window.__pwned = 1</script>")
    expect(row).to_contain_text("<b>orders</b>")
    expect(row).to_contain_text('<img src=y onerror="window.__pwned = 5">')
    row.get_by_test_id("faq-open").click()
    expect(page.get_by_test_id("faq-answer")).to_have_value(answer)
    preview = page.get_by_test_id("faq-preview")
    expect(preview).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    expect(preview).to_contain_text("javascript:window.__pwned=3")
    expect(preview.locator("a")).to_have_count(1)  # only the https link is a link
    expect(preview.locator("a")).to_have_attribute("href", "https://shop.example.com/track")
    preview.get_by_text("javascript:window.__pwned=3", exact=False).click()  # plain text: a click runs nothing

    page.get_by_test_id("tab-try").click()
    page.get_by_test_id("try-input").fill("where is my zebra striped parcel")
    page.get_by_test_id("try-submit").click()
    expect(page.locator("[data-testid=try-hit][data-faq-id='hostile-zebra']")).to_contain_text("<script>")

    assert page.locator("#app script, #app img, #app b, #app a[href^='javascript:']").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.context.close()


# -- screenshots for the docs (UPDATE_SCREENSHOTS=1) -------------------------------------------------

def showcase(documents: dict[str, Any]) -> None:
    """Every group open around the clock, three chats per agent, and cosmetics spilling over to general
    from its third waiting visitor: a busy afternoon in a minute."""
    documents["hours"]["schedules"]["standard"] = {"daily": [["00:00", "24:00"]]}
    documents["groups"]["agents"]["default_capacity"] = 3
    for group in documents["groups"]["groups"]:
        if group["id"] == "cosmetics":
            group["overflow"] = {"waiting_at_least": 3, "to": ["general"], "notify": True}


class Crowd:
    """Visitors on their own WebSockets, kept open on a background event loop while the browser looks on."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._http = self._run(self._session())
        self.peers: list[Peer] = []

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def arrive(self, name: str, category: str | None = None) -> Peer:
        """A visitor opens the chat and asks for a person."""
        async def go() -> Peer:
            body = {"channel": "web", "name": name, **({"category": category} if category else {})}
            async with self._http.post(f"{self._stack.base}/api/visitors/token", json=body) as answer:
                token = (await answer.json())["token"]
            peer = await connect(self._http, self._stack, token)
            await peer.send({"action": "hello"})
            await peer.send({"action": "request_agent"})
            return peer

        peer = self._run(go())
        self.peers.append(peer)
        return peer

    def send(self, peer: Peer, frame: dict[str, Any]) -> None:
        self._run(peer.send(frame))

    def close(self) -> None:
        for peer in self.peers:
            self._run(peer.close())
        self._run(self._http.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


@pytest.mark.skipif(os.environ.get("UPDATE_SCREENSHOTS") != "1", reason="writes docs/screenshot-*.png")
def test_screenshots_of_both_consoles(browser: Browser, tmp_path: Path) -> None:
    with run_stack(tmp_path, config_edit=showcase) as shop:
        board = browser.new_context(viewport={"width": 1366, "height": 1000}).new_page()
        sign_in(board, shop, "/dashboard", "carol")
        expect(board.get_by_test_id("dash-conn")).to_have_text("live")
        alice = browser.new_context().new_page()
        sign_in(alice, shop, "/console", "alice")
        expect(alice.locator("#conn")).to_have_text("open")
        bob = browser.new_context().new_page()
        sign_in(bob, shop, "/console", "bob")
        expect(bob.locator("#conn")).to_have_text("open")
        bob.locator("#status").select_option("busy")

        crowd = Crowd(shop)
        arrivals = [("Wang", None), ("Li", "electronics"), ("Chen", "cosmetics"), ("Zhao", None),
                    ("Sun", "cosmetics"), ("Zhou", "electronics"), ("Wu", "cosmetics"), ("Zheng", None),
                    ("Feng", "cosmetics"), ("Ma", None), ("Hu", "shoes"), ("Lin", None)]
        waiting: list[Peer] = []
        for name, category in arrivals:
            waiting.append(crowd.arrive(name, category))
            time.sleep(4)  # arrivals spread over a minute, for the chart
        alice.locator("[data-testid=session-item]").first.click()
        alice.get_by_test_id("con-end").click()  # a chat ends: the queue moves
        time.sleep(3)
        crowd.send(waiting[-1], {"action": "leave_message", "text": "Please call me back about my order.",
                                 "reason": "visitor"})
        time.sleep(6)
        board.screenshot(path=str(DOCS / "screenshot-dashboard.png"), full_page=True)
        crowd.close()

        robot = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        sign_in(robot, shop, "/robot", "admin")
        robot.get_by_test_id("faq-language-filter").select_option("en")
        robot.get_by_test_id("faq-search").fill("can I still cancel my order")
        robot.get_by_test_id("faq-search-submit").click()
        expect(robot.get_by_test_id("faq-caption")).to_contain_text("best matches", timeout=INDEXING_MS)
        robot.locator("[data-testid=faq-open]").first.click()
        expect(robot.get_by_test_id("faq-editor-title")).to_have_text("Edit FAQ")
        robot.evaluate("window.scrollTo(0, 0)")
        robot.mouse.move(0, 0)
        robot.screenshot(path=str(DOCS / "screenshot-robot.png"))
        for page in (board, alice, bob, robot):
            page.context.close()
