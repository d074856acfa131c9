"""The admin in a real browser: headless Debian Chromium driven by Playwright, against a live server, at 1280 px.

The data is a busy operator's month (tests/admin/console.py). Every page is photographed into
artifacts/screenshots/<engine>/<test>/ before anything on it is checked, so a failing check still
leaves its picture (CI keeps the folder).
"""

import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from core.providers import provider_registry
from pricing.services import cost_upsert
from tests.admin.console import MODELS, Console, console_seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run"]
WIDTH, HEIGHT = 1280, 800
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def shots(request) -> Path:
    folder = SHOTS / connection.vendor / request.node.name
    shutil.rmtree(folder, ignore_errors=True)  # no picture left from an earlier run
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def console(monkeypatch, transactional_db) -> Iterator[Console]:
    # Two providers configured, while prices name five: the price filter must offer these two only.
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, "sk-test-browser")
    provider_registry.cache_clear()
    yield console_seed()
    provider_registry.cache_clear()


def _browser(live_server: Any, console: Console, **context: Any) -> Iterator[Any]:
    """A logged-in page at 1280 px. Opened after the data is made: Playwright's sync API runs an event
    loop in this thread while it is open, and Django refuses synchronous database calls under one."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, **context).new_page()
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "ops")
        page.fill("#id_password", console.operator_password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        yield page
        browser.close()


@pytest.fixture
def tab(live_server, console) -> Iterator[Any]:
    yield from _browser(live_server, console)


@pytest.fixture
def dark_tab(live_server, console) -> Iterator[Any]:
    yield from _browser(live_server, console, color_scheme="dark")  # the admin's theme follows the system's


# What a page is measured for: its width, each table's, boxes that scroll sideways, the sidebar,
# and every "$0.00" (the admin writes an exact zero as "$0", so "$0.00" can only be a rounded cost).
MEASURE = """() => {
  const limit = document.documentElement.clientWidth;
  const shown = (el) => el.getClientRects().length > 0;
  const name = (el) => el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + [...el.classList].join('.');
  const tables = [...document.querySelectorAll('table')].filter(shown)
    .filter((t) => t.getBoundingClientRect().right > limit + 0.5 || t.scrollWidth > t.clientWidth + 1)
    .map((t) => name(t) + ' ends at ' + Math.round(t.getBoundingClientRect().right) + ' px');
  const scrolling = [...document.querySelectorAll('div, section, form, fieldset')].filter(shown)
    .filter((el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX) && el.scrollWidth > el.clientWidth + 1)
    .map((el) => name(el) + ' scrolls: ' + el.scrollWidth + ' px in ' + el.clientWidth);
  const zeros = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (/\\$0\\.00(?![0-9])/.test(node.textContent)) {
      const host = node.parentElement.closest('text, title, td, .gw-card, p, li') || node.parentElement;
      zeros.push(host.textContent.trim().slice(0, 120));
    }
  }
  const sidebar = document.querySelector('#nav-sidebar');
  return {
    width: document.documentElement.scrollWidth, tables, scrolling, zeros,
    sidebar: !!sidebar && shown(sidebar) && sidebar.getBoundingClientRect().width > 100,
  };
}"""


def check(tab, url: str, shots: Path, name: str, *, sidebar: bool = True) -> list[str]:
    """Problems on one page (none: an empty list), after its screenshot is written."""
    tab.goto(url)
    tab.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    found = tab.evaluate(MEASURE)
    problems = [f"page is {found['width']} px wide"] if found["width"] > WIDTH else []
    problems += found["tables"] + found["scrolling"]
    if sidebar and not found["sidebar"]:
        problems.append("no navigation sidebar")
    problems += [f"$0.00 shown in: {text!r}" for text in found["zeros"]]
    return [f"{name}: {problem}" for problem in problems]


def _hrefs(tab, selector: str) -> list[str]:
    return tab.eval_on_selector_all(selector, "links => links.map(a => a.href)")


def test_every_admin_page_fits_1280_px_with_its_sidebar_and_no_zero_for_a_cost(tab, live_server, console, shots):
    """Every list of the index, with its add page, its first object's page and that object's history."""
    base = live_server.url
    problems = check(tab, f"{base}/admin/", shots, "index", sidebar=False)  # the index is the app list itself
    lists = _hrefs(tab, "#content-main tr[class^=model-] th a")
    assert len(lists) >= 9, lists  # accounts, keys, prices, usage, deployments, policies, tokens, users, groups
    for url in lists:
        name = "-".join(url.rstrip("/").split("/")[-2:])
        problems += check(tab, url, shots, f"{name}-list")
        first = _hrefs(tab, "#result_list tbody tr:first-child a[href$='/change/']")[:1]
        adding = _hrefs(tab, ".object-tools a.addlink")[:1]
        for page in first:
            problems += check(tab, page, shots, f"{name}-object")
            problems += check(tab, page.removesuffix("change/") + "history/", shots, f"{name}-history")
        for page in adding:
            problems += check(tab, page, shots, f"{name}-add")
    account = console.account.pk
    problems += check(tab, f"{base}/admin/accounts/account/{account}/change/", shots, "account-page")
    problems += check(tab, f"{base}/admin/usage/usagelog/?account__id__exact={account}", shots, "usage-of-account")
    problems += check(tab, f"{base}/admin/usage/usagelog/report/", shots, "spend-report")
    query = "group_by=account&group_by=model&period=week"
    problems += check(tab, f"{base}/admin/usage/usagelog/report/?{query}", shots, "spend-report-by-account-model")
    query = "group_by=key&group_by=status&period=month"
    problems += check(tab, f"{base}/admin/usage/usagelog/report/?{query}", shots, "spend-report-by-key-status")
    assert not problems, "\n".join(problems)


def test_the_columns_that_matter_are_on_screen(tab, live_server, console, shots):
    """Cost, latency, status, limits, health and what a budget has left: inside the window of their lists."""
    for path, columns in (
        ("usage/usagelog/", ("cost", "latency", "status")),
        ("keys/apikey/", ("status", "limits")),
        ("routing/deployment/", ("status", "errors")),
        ("accounts/account/", ("status", "remaining", "spent", "budget")),
        ("pricing/modelcost/", ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "source_badge")),
        ("budgets/budget/", ("limit", "spent", "left", "resets")),
    ):
        tab.goto(f"{live_server.url}/admin/{path}")
        tab.screenshot(path=str(shots / f"{path.strip('/').replace('/', '-')}.png"))  # the first screen only
        for column in columns:
            edges = tab.eval_on_selector_all(
                f"#result_list td.field-{column}", "cells => cells.map(c => c.getBoundingClientRect().right)"
            )
            assert edges and max(edges) <= WIDTH, (path, column, edges)


def test_the_account_chart_names_every_model_with_its_micro_cost(tab, live_server, console, shots):
    tab.goto(f"{live_server.url}/admin/accounts/account/{console.account.pk}/change/")
    chart = tab.locator("#spend-chart svg")
    tab.screenshot(path=str(shots / "account-chart.png"), full_page=True)
    assert chart.is_visible() and chart.locator("rect.bar").count() > 10
    legend = chart.locator("text.legend").all_text_contents()
    # One entry per model that cost something: none blank (the refused calls with no model cost nothing).
    entries = dict(re.findall(r"^(\S.*) \((\$[0-9.,]+)\)$", "\n".join(legend), re.MULTILINE))
    assert len(entries) == len(legend) and sorted(entries) == sorted(MODELS), legend
    assert all(re.fullmatch(r"\$0\.0*[1-9][0-9]*", cost) for cost in entries.values()), legend  # micro-costs, shown
    tooltips = chart.locator("rect.bar title").all_text_contents()
    assert tooltips and all(re.search(r": \$0\.0*[1-9][0-9]*$", tip) for tip in tooltips), tooltips


def test_add_key_on_the_account_page_opens_the_form_for_that_account(tab, live_server, console, shots):
    tab.goto(f"{live_server.url}/admin/accounts/account/{console.account.pk}/change/")
    tab.click(".object-tools a:text('Add key')")
    tab.wait_for_url(re.compile(r"/admin/keys/apikey/add/"))
    tab.screenshot(path=str(shots / "add-key.png"), full_page=True)
    assert tab.inner_text(".field-account .select2-selection__rendered").strip() == console.account.user_id


def test_the_price_filter_offers_only_providers_the_gateway_can_call(tab, live_server, console, shots):
    tab.goto(f"{live_server.url}/admin/pricing/modelcost/")
    provider = tab.locator("#changelist-filter details", has_text="Provider")
    provider.locator("summary").click()
    tab.screenshot(path=str(shots / "provider-filter-open.png"))
    assert provider.locator("ul").is_visible()
    assert provider.locator("li").all_inner_texts() == ["All", "openai", "anthropic"]  # not bedrock, azure, gemini
    provider.locator("a:text('openai')").click()
    tab.wait_for_url(re.compile(r"provider=openai"))
    tab.screenshot(path=str(shots / "filtered-by-openai.png"))
    assert "Provider: openai" in tab.inner_text("#changelist-filter")
    assert tab.locator("#result_list tbody tr").count() == sum(name == "openai" for name in MODELS.values())


# The contrast of a link's text with the background behind it (WCAG 2's formula; 4.5 is its AA level).
CONTRAST = """(selector) => {
  const rgb = (text) => text.match(/[0-9.]+/g).slice(0, 4).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map((c) => c / 255)
    .map((c) => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  return [...document.querySelectorAll(selector)].slice(0, 20).map((link) => {
    let behind = link;
    while (behind && (rgb(getComputedStyle(behind).backgroundColor)[3] ?? 1) === 0) behind = behind.parentElement;
    const [fore, back] = [getComputedStyle(link).color, getComputedStyle(behind || document.body).backgroundColor];
    const [a, b] = [luminance(rgb(fore)), luminance(rgb(back))];
    return [link.textContent.trim(), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}"""


def test_links_are_readable_in_dark_mode(dark_tab, live_server, console, shots):
    dark_tab.goto(f"{live_server.url}/admin/usage/usagelog/")
    dark_tab.screenshot(path=str(shots / "usage-list-dark.png"), full_page=True)
    assert dark_tab.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 255, 255)"
    for selector in ("#result_list a", "#nav-sidebar a", "#nav-sidebar .current-model a", ".breadcrumbs a"):
        found = dark_tab.evaluate(CONTRAST, selector)
        assert found and all(ratio >= 4.5 for _, ratio in found), (selector, found)


@pytest.fixture
def priced(console) -> None:
    # An allow-list names models a call could use. Before `tab`, for the reason `_browser` gives.
    for model in ("gpt-5", "claude-sonnet-4-5"):
        cost_upsert(model=model, input_per_mtok=Decimal(1), output_per_mtok=Decimal(2))


def test_a_new_key_is_shown_once_then_only_its_prefix(priced, tab, live_server, shots):
    tab.goto(f"{live_server.url}/admin/accounts/account/add/")
    tab.fill("#id_user_id", "initech")
    tab.fill("#id_name", "Initech")
    tab.fill("#id_budget_usd", "250")
    tab.click("input[name=_save]")
    assert "initech" in tab.inner_text("#result_list")

    tab.goto(f"{live_server.url}/admin/keys/apikey/add/")
    tab.click(".field-account .select2-selection")  # the account picker is an autocomplete
    tab.fill(".select2-search__field", "initech")
    tab.click(".select2-results__option >> text=initech")
    tab.fill("#id_name", "production")
    tab.fill("#id_allowed_models", "gpt-5, claude-sonnet-4-5")
    tab.fill("#id_rpm_limit", "600")
    tab.click("input[name=_save]")
    raw = tab.input_value("#raw-key")
    assert raw.startswith("gw-")
    tab.screenshot(path=str(shots / "1-key-shown-once.png"), full_page=True)

    tab.reload()
    prefix = raw[:11]
    assert raw not in tab.content()
    assert f"{prefix}…" in tab.content()
    tab.screenshot(path=str(shots / "2-after-reload-prefix-only.png"), full_page=True)

    tab.goto(f"{live_server.url}/admin/keys/apikey/")
    assert raw not in tab.content() and f"{prefix}…" in tab.content()
    tab.screenshot(path=str(shots / "3-key-list.png"), full_page=True)
