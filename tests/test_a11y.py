"""Accessibility: axe-core (npm, installed into the git-ignored .npm/ by `make test`) on the browser chat and the
widget panel, light and dark, desktop (1280x800) and phone (390x844): no serious or critical violations."""

import os
from pathlib import Path

import pytest

from test_browser import browser, site  # noqa: F401 (fixtures)

AXE = Path(__file__).resolve().parents[1] / ".npm" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def axe_source():
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} missing; `make test` installs it (npm install --prefix .npm axe-core@4)")
        pytest.skip("axe-core not installed: npm install --no-save --prefix .npm axe-core@4")
    return AXE.read_text(encoding="utf-8")


def serious(target, axe_source, include=None) -> list[str]:
    """axe-core's serious and critical violations in a page or frame (WCAG 2.1 A/AA and best practices)."""
    if not target.evaluate("typeof window.axe !== 'undefined'"):
        target.add_script_tag(content=axe_source)
    found = target.evaluate("""async (include) => {
        const r = await axe.run(include ? {include} : document,
                                {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
                                 resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
          .map(v => `${v.impact} ${v.id}: ` + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' -> ' +
               n.failureSummary.replace(/\\s+/g, ' ')).join(' | '));
    }""", include)
    return found


def _context(browser, viewport, scheme):
    # bypass_csp: the widget panel's CSP (script-src 'self') would refuse the injected axe script
    return browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=scheme, bypass_csp=True)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_page_has_no_serious_axe_violations(browser, site, axe_source, viewport, scheme):
    server, bot, _, _ = site
    context = _context(browser, viewport, scheme)
    page = context.new_page()
    page.goto(server.url + ("/?__theme=dark" if scheme == "dark" else "/"), wait_until="load")
    box = page.get_by_role("textbox", name="Your message")
    box.wait_for(timeout=30000)
    box.fill("the crew was <b>great</b>")
    box.press("Enter")
    page.locator('[data-testid="bot"]').first.wait_for(timeout=30000)
    problems = serious(page, axe_source)
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_widget_has_no_serious_axe_violations(browser, site, axe_source, viewport, scheme):
    server, bot, allowed, _ = site
    context = _context(browser, viewport, scheme)
    page = context.new_page()
    page.goto(allowed.url, wait_until="load")
    page.locator("#feedbackbot-launcher").click()
    page.frame_locator("#feedbackbot-panel").locator("body[data-ready='1']").wait_for(timeout=30000)
    frame = page.frame(url=lambda u: u.startswith(server.url + "/widget"))
    frame.locator("#text").fill("the staff ignored me")
    frame.locator("#text").press("Enter")
    frame.locator(".msg.bot").first.wait_for(timeout=30000)
    problems = serious(frame, axe_source)
    problems += serious(page, axe_source, include=[["#feedbackbot-launcher"], ["#feedbackbot-panel"]])
    context.close()
    assert problems == [], "\n".join(problems)
