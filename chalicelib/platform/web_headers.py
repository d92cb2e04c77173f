"""The security headers of the web pages, their static files and ``/media``: defined once, sent by the local
gateway (local/gateway.py) and by CloudFront (the response headers policy of infra/build.py).

The pages load only their own scripts and styles (no inline script, handler or style attribute), talk to their
own origin (``/api`` and the ``/ws`` WebSocket; CSP's ``'self'`` covers ``ws:``/``wss:`` to the same host) and to
Cognito's sign-in endpoint in the stack's region. Images may come from any HTTPS host, since agents send catalogue
pictures by URL and product cards show the shop's own image links; images run no code (``data:`` is the
staff pages' empty favicon). No page is meant to be
framed: the visitor widget is opened as a page of its own (a link, or the app's web view), so framing is refused.
"""

from __future__ import annotations

FRAME_OPTIONS = "DENY"
# Same-origin calls keep their referrer; image hosts and links out learn nothing (page URLs may carry a name).
REFERRER_POLICY = "same-origin"
# Sent only over HTTPS (CloudFront); browsers ignore it over plain HTTP.
HSTS_MAX_AGE_SECONDS = 2 * 365 * 24 * 3600


def cognito_origin(region: str) -> str:
    """Where the staff pages call Cognito's InitiateAuth (web/static/auth.js)."""
    return f"https://cognito-idp.{region}.amazonaws.com"


def content_security_policy(region: str) -> str:
    """The pages' CSP; ``region`` is the stack's (``${AWS::Region}`` in the template, substituted there)."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data: https:",
        "connect-src": f"'self' {cognito_origin(region)}",
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def page_headers(region: str) -> dict[str, str]:
    """Every header both the gateway and CloudFront add to pages, static files and media."""
    return {
        "Content-Security-Policy": content_security_policy(region),
        "X-Frame-Options": FRAME_OPTIONS,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": REFERRER_POLICY,
    }
