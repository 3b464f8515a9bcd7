"""Real-browser checks of the sample batch's HTML (headless Chromium via Playwright's sync API).

What a 街道 secretary opens on a phone must work offline, without scripts, without sideways scrolling,
and print on A4.  Chromium is looked up on PATH (Debian: ``apt-get install chromium``); when it or the
playwright package is missing the tests are skipped locally but fail when ``CI=true``.

Full-page screenshots land in ``test-artifacts/screenshots/`` (git-ignored) for a human look.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WEEK = "2023-W37"
WEEK_DATES = "2023年9月11日–9月17日"
SUBDISTRICT = "人民路街道"
COMMUNITIES = ["七一社区", "海港社区", "港兴社区", "福寿社区", "修竹社区"]
COMMUNITY_SLUG = "xiuzhu-shequ"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = {375: PHONE, 1280: DESKTOP}
# A4 (210 mm) minus the 12 mm @page margins on both sides = 186 mm = 703 CSS px.
A4_PRINTABLE_PX = 703
MAX_HTML_BYTES = 3 * 1024 * 1024
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# One worker runs the whole module under ``pytest -n 2 --dist loadgroup`` so Chromium starts once.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _unavailable(message: str):
    """Skip locally, but fail in CI: CI must actually run the browser tests."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{message} (CI=true: the browser tests must run in CI)", pytrace=False)
    pytest.skip(message)


def _find_chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _pages(out: Path) -> dict[str, Path]:
    return {"digest": out / WEEK / "digest.html",
            "community": out / WEEK / "communities" / f"{COMMUNITY_SLUG}.html"}


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the environment
        sync_playwright, missing = None, exc
    if sync_playwright is None:
        _unavailable(f"playwright not installed: pip install -e '.[dev]' ({missing})")
    executable = _find_chromium()
    if executable is None:
        _unavailable("Chromium not installed: apt-get install chromium")
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    yield chromium
    chromium.close()
    pw.stop()


@dataclass
class Loaded:
    """A report opened in its own browser context, with everything the page tried to do."""

    page: object
    path: Path
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def _local(url: str) -> bool:
    return url.startswith(("file:", "data:"))


def _open(browser, path: Path, viewport: dict) -> Loaded:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    loaded = Loaded(page=page, path=path)
    page.on("console", lambda msg: loaded.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: loaded.page_errors.append(str(exc)))
    page.on("request", lambda req: loaded.requests.append(req.url))

    def guard(route):
        url = route.request.url
        if _local(url):
            route.continue_()
        else:
            loaded.blocked.append(url)
            route.abort()

    page.route("**/*", guard)
    page.goto(path.as_uri(), wait_until="load")
    return loaded


@pytest.fixture(scope="module")
def opened(browser, sample_reports):
    """``opened(name, width)`` -> the page loaded once per module; also saves its full-page screenshot."""
    pages = _pages(sample_reports)
    cache: dict[tuple[str, int], Loaded] = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def get(name: str, width: int) -> Loaded:
        key = (name, width)
        if key not in cache:
            loaded = _open(browser, pages[name], VIEWPORTS[width])
            loaded.page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
            cache[key] = loaded
        return cache[key]

    yield get
    for loaded in cache.values():
        loaded.page.context.close()


PAGE_VIEWS = [pytest.param(n, w, id=f"{n}-{w}") for n in ("digest", "community") for w in (375, 1280)]


@pytest.mark.parametrize("name,width", PAGE_VIEWS)
def test_no_console_errors(opened, name, width):
    loaded = opened(name, width)
    assert loaded.page_errors == [], f"{name}@{width}: uncaught page errors {loaded.page_errors}"
    assert loaded.console_errors == [], f"{name}@{width}: console errors {loaded.console_errors}"


@pytest.mark.parametrize("name,width", PAGE_VIEWS)
def test_works_offline(opened, name, width):
    """The reports are single self-contained files: nothing may be fetched from anywhere."""
    loaded = opened(name, width)
    foreign = [u for u in loaded.requests if not _local(u)]
    assert foreign == [], f"{name}@{width}: requested non-local URLs {foreign}"
    assert loaded.blocked == [], f"{name}@{width}: tried to load {loaded.blocked}"


# Elements sticking out to the right of the viewport that are not inside a scrolling wrapper.
_OVERFLOWING_JS = """() => {
  const w = window.innerWidth, out = [];
  const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; }
    return false; };
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= w + 0.5 || scrolls(el)) continue;
    out.push(`${el.tagName.toLowerCase()}.${typeof el.className === 'string' ? el.className : ''}`
             + ` right=${Math.round(r.right)}: ${(el.innerText || el.textContent || '').trim().slice(0, 40)}`);
  }
  return out.slice(0, 15);
}"""


@pytest.mark.parametrize("name", ["digest", "community"])
def test_no_horizontal_scrolling_on_phone(opened, name):
    page = opened(name, 375).page
    scroll_width, inner_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, (
        f"{name}@375: page scrolls sideways (scrollWidth {scroll_width} > {inner_width}); "
        f"overflowing: {page.evaluate(_OVERFLOWING_JS)}")


# Smallest computed font size of any element that shows text, with an example.
_SMALLEST_TEXT_JS = """() => {
  let best = [1e9, ''];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement; if (!el || !n.textContent.trim() || el.closest('svg')) continue;
    const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < best[0]) best = [size, n.textContent.trim().slice(0, 30)];
  }
  return best;
}"""


@pytest.mark.parametrize("name", ["digest", "community"])
def test_text_readable_on_phone(opened, name):
    size, example = opened(name, 375).page.evaluate(_SMALLEST_TEXT_JS)
    assert size >= 10, f"{name}@375: text rendered at {size}px is unreadable on a phone: {example!r}"


# Short table cells (names, 百分比, dates, categories) that the browser broke over several lines.
_BROKEN_SHORT_CELLS_JS = """() => {
  const out = new Set();
  for (const c of document.querySelectorAll('td, th')) {
    const txt = c.innerText.trim();
    if (!txt || /\\s/.test(txt) || [...txt].length > 7 || c.querySelector('span, small, div')) continue;
    const range = document.createRange(); range.selectNodeContents(c);
    if (new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1) out.add(txt);
  }
  return [...out];
}"""


@pytest.mark.parametrize("name", ["digest", "community"])
def test_short_cells_not_broken_on_phone(opened, name):
    """七一社区 must not read as 七一社/区, nor 86.2% as 86.2/%, in a 375 px column."""
    broken = opened(name, 375).page.evaluate(_BROKEN_SHORT_CELLS_JS)
    assert broken == [], f"{name}@375: short table cells wrapped over two lines: {broken}"


# Height in px of the smallest label matplotlib drew (its text is glyph paths in <g id="text_N">).
_SMALLEST_CHART_LABEL_JS = """() => Math.min(...[...document.querySelectorAll('svg.chart g[id^="text_"]')]
    .map(g => g.getBoundingClientRect().height).filter(h => h > 0))"""


@pytest.mark.parametrize("name", ["digest", "community"])
def test_chart_labels_readable_on_phone(opened, name):
    # ~7 px of ink height is a ~10 px font: the least a phone reader can make out without zooming.
    height = opened(name, 375).page.evaluate(_SMALLEST_CHART_LABEL_JS)
    assert height >= 7, f"{name}@375: chart labels only {height:.1f}px high"


@pytest.mark.parametrize("width", [375, 1280])
def test_digest_shows_names_dates_and_subdistrict(opened, width):
    page = opened("digest", width).page
    for name in COMMUNITIES:
        assert page.get_by_text(name).first.is_visible(), f"digest@{width}: {name} not visible"
    assert page.get_by_text(SUBDISTRICT).first.is_visible(), f"digest@{width}: {SUBDISTRICT} not visible"
    assert page.get_by_text(WEEK_DATES).first.is_visible(), f"digest@{width}: week dates {WEEK_DATES} not visible"


@pytest.mark.parametrize("name", ["digest", "community"])
def test_document_basics(opened, name):
    page = opened(name, 375).page
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    viewport_meta = page.evaluate(
        "() => { const m = document.querySelector('meta[name=viewport]'); return m && m.content; }")
    assert viewport_meta and "width=device-width" in viewport_meta
    assert page.locator("script").count() == 0, f"{name}: the report must not contain any <script>"
    text = page.evaluate("document.body.innerText")
    assert WEEK_DATES in text
    assert SUBDISTRICT in text


def test_status_colours_differ(opened):
    page = opened("digest", 1280).page
    colours = page.evaluate("""() => Object.fromEntries(['st-green', 'st-amber', 'st-red'].map(c =>
        [c, [...new Set([...document.getElementsByClassName(c)].map(e => getComputedStyle(e).backgroundColor))]]))""")
    for cls, found in colours.items():
        assert found, f"digest: no element with class {cls}"
        for colour in found:
            assert colour not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)", "transparent"), \
                f"digest: .{cls} has no visible background ({colour})"
    green, amber, red = (set(colours[c]) for c in ("st-green", "st-amber", "st-red"))
    assert not (green & amber) and not (green & red) and not (amber & red), f"status colours overlap: {colours}"


def test_links_between_reports(browser, opened, sample_reports):
    digest = opened("digest", 1280)
    hrefs = digest.page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    community_hrefs = sorted({h for h in hrefs if h.startswith("communities/")})
    assert f"communities/{COMMUNITY_SLUG}.html" in community_hrefs
    assert len(community_hrefs) == len(COMMUNITIES), community_hrefs
    for href in community_hrefs:
        assert (digest.path.parent / href).is_file(), f"digest links to missing {href}"

    # Follow the link like a user would and come back via "返回街道汇总".
    page = digest.page.context.new_page()
    try:
        page.goto(digest.path.as_uri())
        page.get_by_role("link", name="修竹社区").first.click()
        page.wait_for_load_state("load")
        assert page.url.endswith(f"/communities/{COMMUNITY_SLUG}.html"), page.url
        back = page.locator("a.back")
        assert back.get_attribute("href") == "../digest.html"
        assert (digest.path.parent / "communities" / "../digest.html").resolve() == digest.path.resolve()
        back.click()
        page.wait_for_load_state("load")
        assert page.url.endswith(f"/{WEEK}/digest.html"), page.url
    finally:
        page.close()

    index = _open(browser, sample_reports / "index.html", DESKTOP)
    try:
        index_hrefs = index.page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert f"{WEEK}/digest.html" in index_hrefs
        assert (sample_reports / WEEK / "digest.html").is_file()
        assert index.console_errors == [] and index.page_errors == [] and index.blocked == []
    finally:
        index.page.context.close()


@pytest.mark.parametrize("name", ["digest", "community"])
def test_prints_on_a4(browser, sample_reports, name):
    path = _pages(sample_reports)[name]
    loaded = _open(browser, path, {"width": A4_PRINTABLE_PX, "height": 1000})
    page = loaded.page
    try:
        css = page.evaluate("""() => [...document.styleSheets].map(s => [...s.cssRules].map(r => r.cssText)
                                  .join('\\n')).join('\\n')""")
        assert "@page" in css and re.search(r"@page\s*\{[^}]*size:\s*A4", css, re.IGNORECASE), "no A4 @page rule in the report's CSS"
        page.emulate_media(media="print")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= A4_PRINTABLE_PX, f"{name}: printed page is {scroll_width}px wide"
        # In print the table wrappers stop scrolling, so check every element, wrappers included.
        too_wide = page.evaluate("""w => [...document.querySelectorAll('body *')].filter(el => {
            const r = el.getBoundingClientRect(); return r.width > 0 && r.right > w + 0.5; })
            .slice(0, 10).map(el => el.tagName + ' ' + Math.round(el.getBoundingClientRect().right))""",
                                 A4_PRINTABLE_PX)
        assert too_wide == [], f"{name}: elements wider than the A4 page: {too_wide}"
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF") and len(pdf) > 10 * 1024, f"{name}: PDF only {len(pdf)} bytes"
    finally:
        page.context.close()


def test_html_files_are_small(sample_reports):
    files = [sample_reports / "index.html", *sorted((sample_reports / WEEK).rglob("*.html"))]
    assert len(files) >= 2 + len(COMMUNITIES)
    for f in files:
        assert f.stat().st_size < MAX_HTML_BYTES, f"{f.name} is {f.stat().st_size} bytes (limit 3 MiB)"


# --- every rate visible at 375 px; the new sections without a sideways swipe ---------------------

# Cells of ``selector``'s tables outside the viewport, and tables (or their wrappers) that scroll sideways.
_CELLS_OUTSIDE_JS = """sel => {
  const w = window.innerWidth, out = [];
  for (const t of document.querySelectorAll(sel)) {
    for (const c of t.querySelectorAll('th, td')) {
      const r = c.getBoundingClientRect();
      if (r.width === 0) continue;
      if (r.left < -0.5 || r.right > w + 0.5) out.push(`cell ${Math.round(r.left)}..${Math.round(r.right)}: ${c.innerText.trim().slice(0, 20)}`);
      if (c.scrollWidth > c.clientWidth + 1) out.push(`cell content overflows: ${c.innerText.trim().slice(0, 20)}`);
    }
    for (const el of [t, t.parentElement]) if (el.scrollWidth > el.clientWidth + 1)
      out.push(`${el.tagName.toLowerCase()}.${el.className} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
  }
  return out.slice(0, 15);
}"""

# The tables of the sections under these <h2> titles (up to the next <h2>).
_SECTION_TABLES_JS = """titles => {
  const out = [];
  for (const h of document.querySelectorAll('h2')) {
    if (!titles.includes(h.textContent.trim())) continue;
    for (let el = h.nextElementSibling; el && el.tagName !== 'H2'; el = el.nextElementSibling)
      for (const t of (el.tagName === 'TABLE' ? [el] : el.querySelectorAll('table'))) { t.dataset.checked = '1'; out.push(h.textContent.trim()); }
  }
  return out;
}"""
NEW_SECTIONS = ["本周概要", "不漏一户进度", "问卷可信度", "志愿服务", "门前三包", "走访力量"]


def test_every_rate_of_every_community_fits_a_phone(opened):
    page = opened("digest", 375).page
    cells = page.evaluate("() => document.querySelectorAll('table.matrix td').length")
    assert cells == 6 * (len(COMMUNITIES) + 1)
    assert page.evaluate(_CELLS_OUTSIDE_JS, "table.matrix") == []
    # each rate shows its label, its value with a ✓ ! ✕ mark, and its interval
    first = page.locator("table.matrix td").first
    assert first.is_visible() and "%" in first.inner_text() and "–" in first.inner_text()


def _check_new_sections(page, where):
    scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{where}: page scrolls sideways ({scroll_width} > {inner_width})"
    found = page.evaluate(_SECTION_TABLES_JS, NEW_SECTIONS)
    assert found, f"{where}: none of the new sections has a table"
    assert page.evaluate(_CELLS_OUTSIDE_JS, "table[data-checked]") == [], where
    return set(found)


def test_new_sections_do_not_scroll_sideways_on_the_sample(opened):
    for name in ("digest", "community"):
        found = _check_new_sections(opened(name, 375).page, name)
        assert {"不漏一户进度", "问卷可信度", "走访力量"} <= found


@pytest.fixture(scope="module")
def campaign_pages(tmp_path_factory):
    """Pages rendered from a small folder with activities/ and shops/ (the sample may lack them)."""
    from canvass.metrics import metrics_over_weeks

    from .test_narrative import TARGETS, W, load, render_community, render_digest

    root = tmp_path_factory.mktemp("campaign-pages")
    cleaned = load(root / "data")
    history = metrics_over_weeks(cleaned, W, TARGETS)
    out = {"digest": root / "digest.html", "community": root / "community.html"}
    out["digest"].write_text(render_digest(cleaned, history), encoding="utf-8")
    out["community"].write_text(render_community(cleaned, history), encoding="utf-8")
    return out


@pytest.mark.parametrize("name", ["digest", "community"])
def test_new_sections_do_not_scroll_sideways_with_activities_and_shops(browser, campaign_pages, name):
    loaded = _open(browser, campaign_pages[name], PHONE)
    try:
        loaded.page.screenshot(path=str(SCREENSHOTS / f"campaign-{name}-375.png"), full_page=True)
        found = _check_new_sections(loaded.page, f"campaign {name}")
        assert {"志愿服务", "门前三包", "问卷可信度", "不漏一户进度"} <= found
        assert loaded.page.evaluate(_SMALLEST_TEXT_JS)[0] >= 10
        assert loaded.page.evaluate(_BROKEN_SHORT_CELLS_JS) == []
        assert loaded.page_errors == [] and loaded.blocked == []
    finally:
        loaded.page.context.close()
