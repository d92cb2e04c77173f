"""axe-core (pinned in requirements-dev.txt, shipped inside axe-playwright-python) run in a page, for WCAG 2.1 A
and AA."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Page

# The rules of WCAG 2.0 and 2.1, levels A and AA.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# axe leaves text made only of symbols out of its contrast check; the pages' rating stars (★) are such text and must
# be seen too. configure() replaces a check's options whole, so axe's own are kept around the one changed.
CHECK_SYMBOLS = """axe.configure({checks: [{id: "color-contrast",
  options: {...axe._audit.checks["color-contrast"].options, ignoreUnicode: false}}]})"""


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on ``page`` as it is now. The script is evaluated through DevTools, as a page's own
    script could not be: the pages' CSP refuses an injected <script>, and the check must see the pages under the
    policy they are served with (a context bypassing the CSP would apply styles the policy keeps from users)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
        page.evaluate(CHECK_SYMBOLS)
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_21_AA)
    found: list[dict[str, Any]] = result["violations"]
    return found


# axe checks no contrast but text's. WCAG 1.4.11 asks 3:1 of what shows a control, and a text field shows only its
# edge: each visible field's border against the first opaque background behind the field.
FIELD_EDGES = """() => {
  const rgb = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => v / 255)
    .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (el) => {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c;
    }
    return [255, 255, 255];
  };
  const weak = [];
  const fields = "input:not([type=checkbox]):not([type=radio]):not([type=file]), select, textarea";
  for (const el of document.querySelectorAll(fields)) {
    const style = getComputedStyle(el);
    if (!el.checkVisibility() || parseFloat(style.borderTopWidth) === 0 || el.matches(":focus")) continue;
    const [a, b] = [lum(rgb(style.borderTopColor)), lum(behind(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 3) weak.push(`field-edge: #${el.id || el.name}, ${style.borderTopColor}: ${ratio.toFixed(2)}:1 < 3:1`);
  }
  return weak;
}"""


def field_edges(page: Page) -> list[str]:
    """The visible text fields, lists and boxes whose edge is under 3:1 against what surrounds them."""
    weak: list[str] = page.evaluate(FIELD_EDGES)
    return weak


def report(violations: list[dict[str, Any]]) -> list[str]:
    """One line per element at fault: the rule, the element and what axe measured (the contrast ratio, the
    missing name), so a failing test says what to fix."""
    lines = []
    for rule in violations:
        for node in rule["nodes"]:
            why = "; ".join(check["message"] for kind in ("any", "all", "none") for check in node[kind])
            lines.append(f"{rule['id']} ({rule['impact']}): {' '.join(node['target'])} {node['html'][:120]} -- {why}")
    return lines
