"""The HTML report (orchestrator/simulation/report): one self-contained page, a chart per section, escaped text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from orchestrator.charts.svg import nice_ticks, pct
from orchestrator.simulation.report import render_report
from orchestrator.simulation.report.sections import date_ranges
from tests.report_helpers import empty_report, synthetic_report

NOTE = "Sampled preview: recipients and caps scaled by 0.1"
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}
#: Elements that draw no text of their own on the page.
HIDDEN = {"head", "title", "style", "script", "desc"}


class Page(HTMLParser):
    """Tags opened and closed in order, and the text a reader sees inside <body>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.mismatches: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.body_text: list[str] = []
        self.declarations: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.declarations.append(decl)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.mismatches.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "body" in self.stack and not HIDDEN & set(self.stack) and data.strip():
            self.body_text.append(data.strip())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def report() -> str:
    return render_report(synthetic_report(note=NOTE))


def chart_sections(html: str) -> list[str]:
    return [chunk for chunk in html.split("<section ")[1:] if "chart-section" in chunk.split(">", 1)[0]]


def test_report_is_one_balanced_html_document(report: str) -> None:
    """The page is a single HTML5 document whose every element is closed in order."""
    page = parse(report)
    assert page.declarations == ["DOCTYPE html"]
    assert [t for t, _ in page.tags].count("html") == 1
    assert [t for t, _ in page.tags].count("body") == 1
    assert page.mismatches == []
    assert page.stack == []
    assert report.rstrip().endswith("</html>")


def test_report_references_nothing_external(report: str) -> None:
    """No URL, script, stylesheet link, image source or CSS import: the page opens offline."""
    page = parse(report)
    assert "http://" not in report
    assert "https://" not in report
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", report, re.IGNORECASE)
    assert [a for _, a in page.tags if "src" in a] == []
    assert {(a["href"] or "")[:1] for _, a in page.tags if "href" in a} == {"#"}


def test_report_has_an_svg_chart_in_every_chart_section(report: str) -> None:
    """Each identity, the pool, the domain mix, the outcomes and the signals have their charts."""
    sections = chart_sections(report)
    assert [s.count("<svg") for s in sections] == [2, 2, 2, 1, 1, 1, 3]


def test_report_charts_have_accessible_titles(report: str) -> None:
    """Every chart opens with a <title> and a <desc> it is labelled by, under an HTML heading."""
    svgs = re.findall(r'<svg [^>]*aria-labelledby="([\w-]+)-t \1-d"><title id="\1-t">[^<]+</title><desc', report)
    assert len(svgs) == report.count("<svg") == 12
    assert all("<h3>" in s.split("<svg", 1)[0] for s in chart_sections(report))


def test_report_names_every_identity(report: str) -> None:
    """Every identity gets its own section, named in its heading."""
    for name in ("news-a", "news-b", "news-c"):
        assert f"Identity <code>{name}</code>" in report


def test_report_shows_note_as_first_text(report: str) -> None:
    """The note (a sampled preview) is the first text a reader sees on the page."""
    assert parse(report).body_text[0] == NOTE


def test_report_without_note_has_no_note_line() -> None:
    """An empty note draws no banner: the campaign name comes first."""
    html = render_report(synthetic_report(days=3))
    assert 'class="note"' not in html
    assert parse(html).body_text[0] == "spring-news"


def test_report_escapes_text_from_data() -> None:
    """Markup in the campaign, note, identity or event text is shown as text, never run."""
    data = synthetic_report(
        days=2, identities=1, note="<img src=x onerror=alert(1)>", campaign="<script>alert(1)</script>"
    )
    data["identities"] = ["<em>bold</em>"]
    for row in data["days"] + data["hours"]:
        row["identity"] = "<em>bold</em>"
    data["events"].append({"t": "<i>", "type": '"><script>', "identity": "&", "detail": "</td></tr>"})
    html = render_report(data)
    page = parse(html)
    assert "<script" not in html.lower()
    assert not {"img", "em", "i", "script"} & {t for t, _ in page.tags}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert page.body_text[0] == "<img src=x onerror=alert(1)>"
    assert page.mismatches == []


def test_report_renders_empty_campaign() -> None:
    """An empty campaign (no identities, rows, outcomes or days) still renders a whole page."""
    html = render_report(empty_report())
    page = parse(html)
    assert page.mismatches == []
    assert "No sending identities." in html
    assert "No events recorded." in html
    assert [s.count("<svg") for s in chart_sections(html)] == [1, 1, 1, 3]


def test_report_renders_identities_without_rows() -> None:
    """Identities listed before any day was simulated get empty charts, not an error."""
    data = empty_report()
    data["identities"] = ["news-a"]
    data["end"] = "2026-12-04T00:00:00+09:00"
    html = render_report(data)
    assert "Identity <code>news-a</code>" in html
    assert "No days recorded for this identity." in html
    assert html.count("No data for this period") >= 2


def test_report_tolerates_odd_values() -> None:
    """Unreadable times, dates and numbers are skipped or read as zero instead of failing the page."""
    data: dict[str, Any] = synthetic_report(days=2, identities=1)
    data["timezone"] = "Mars/Olympus"
    data["hours"].append({"t": "not a time", "identity": "news-a", "planned": None, "actual": "x"})
    data["days"].append(
        {"date": "", "identity": "news-a", "warmup_day": None, "sent": 1, "daily_cap": 1, "status": "?"}
    )
    data["signals"].append({"date": "2026-12-02", "delivered": 0})
    data["summary"]["wall_seconds"] = float("nan")
    assert parse(render_report(data)).mismatches == []


def test_report_marks_hours_above_their_plan() -> None:
    """An hour that sent more than planned is drawn in the warning colour and named in the legend."""
    data = synthetic_report(days=2, identities=1)
    data["hours"][10]["actual"] = data["hours"][10]["planned"] + 1
    html = render_report(data)
    assert '<path class="bar over"' in html
    assert ">over the plan<" in html


def test_report_lists_warmup_steps_by_date(report: str) -> None:
    """Each identity's held, idle and stepped-back days are listed as runs of dates."""
    assert "step held (2): Dec 5 – Dec 6" in report
    assert "idle (3): Dec 14 – Dec 16" in report
    assert "stepped back (3): Dec 17 – Dec 19" in report


def test_report_stays_small_for_sixty_days() -> None:
    """60 days x 3 identities x 24 hours (4,320 hour rows) renders well under 2 MB."""
    data = synthetic_report(days=60)
    assert len(data["hours"]) == 4320
    assert len(render_report(data).encode()) < 2_000_000


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        pytest.param(0, [0, 1], id="nothing"),
        pytest.param(3, [0, 1, 2, 3], id="small-counts"),
        pytest.param(25_000, [0, 5000, 10000, 15000, 20000, 25000], id="daily-cap"),
        pytest.param(26_000, [0, 10000, 20000, 30000], id="just-over"),
        pytest.param(1_200, [0, 250, 500, 750, 1000, 1250], id="quarter-steps"),
    ],
)
def test_nice_ticks_round_steps(top: float, expected: list[float]) -> None:
    """Axis ticks start at zero, step by 1, 2, 2.5 or 5 times a power of ten, and reach the top."""
    assert nice_ticks(top) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0.0, "0%", id="zero"),
        pytest.param(0.004, "<0.01%", id="tiny"),
        pytest.param(0.1, "0.1%", id="complaint-hold"),
        pytest.param(0.25, "0.25%", id="two-decimals"),
        pytest.param(5.0, "5%", id="bounce-hold"),
        pytest.param(6.54, "6.5%", id="one-decimal"),
        pytest.param(96.7, "97%", id="large"),
    ],
)
def test_pct_decimals_follow_size(value: float, expected: str) -> None:
    """Percentages keep the decimals small values need and drop trailing zeros."""
    assert pct(value) == expected


def test_date_ranges_join_consecutive_days() -> None:
    """Consecutive dates collapse into one run; lone dates stay single."""
    import datetime as dt

    days = [dt.date(2026, 12, d) for d in (5, 9, 10, 11, 12, 20)]
    assert date_ranges(days) == "Dec 5, Dec 9 – Dec 12, Dec 20"


def _x_labels(html: str, chart_id: str) -> list[str]:
    """The date labels under one chart's x axis."""
    svg = html.split(f'aria-labelledby="{chart_id}-t', 1)[1].split("</svg>", 1)[0]
    return re.findall(r'<text class="tx"[^>]*>([^<]+)</text>', svg)


def test_report_draws_only_the_days_used_and_says_how_many_were_left() -> None:
    """A campaign done on its third day of a 30-day run: three days on every daily chart, 27 named as unused."""
    data = synthetic_report(days=3, identities=2)
    data["days_requested"] = 30
    data["end"] = "2026-12-03T09:36:00+09:00"
    data["summary"]["days_simulated"] = 2.36  # as simulate writes it: virtual time, in days
    html = render_report(data)
    assert _x_labels(html, "pool-chart") == ["Dec 1", "Dec 2", "Dec 3"]
    assert _x_labels(html, "day-0") == ["Dec 1", "Dec 2", "Dec 3"]
    assert "27 of the days asked for left unused" in html
    assert "27 more days asked for, left unused" in html
    # The tile counts the three days the charts show (3 + 27 = 30), and gives the virtual time beside them.
    tile = html.split('<div class="k">Days simulated</div>', 1)[1]
    assert tile.startswith('<div class="v">3</div>')
    assert "(2.36 days of virtual time); 27 more days" in tile.split("</div>", 2)[1]


def test_report_without_unused_days_says_nothing_of_them() -> None:
    """A run that used its whole period has no word about unused days."""
    data = synthetic_report(days=3, identities=1)
    data["days_requested"] = 3
    html = render_report(data)
    assert len(_x_labels(html, "pool-chart")) == 3
    assert "unused" not in html


def test_report_draws_and_lists_guardrail_and_shaping_marks() -> None:
    """Each mark is a line (or a backoff band) on its identity's daily and hourly charts and the pool's, and a row."""
    data = synthetic_report(days=3, identities=2)
    data["marks"] = [
        {
            "t": "2026-12-02T00:00:00+09:00",
            "kind": "held",
            "identity": "news-a",
            "subject": "hard_bounce",
            "text": "news-a: warm-up day of 2026-12-01 held (hard_bounce 7 %)",
        },
        {
            "t": "2026-12-02T11:00:00+09:00",
            "end": "2026-12-02T12:40:00+09:00",
            "kind": "backoff",
            "identity": "news-b",
            "subject": "naver",
            "text": "news-b: naver backed off",
        },
        {"t": "2026-12-03T15:00:00+09:00", "kind": "paused", "identity": "", "text": "paused by automatic"},
        {"t": "not a time", "kind": "paused", "text": "skipped"},
        {"t": "2026-12-03T15:00:00+09:00", "kind": "unknown", "text": "skipped"},
    ]
    html = render_report(data)

    def section(anchor: str) -> str:
        return html.split(f'<section id="{anchor}"', 1)[1].split("</section>", 1)[0]

    # An identity's section has two time charts (per day, per hour): each draws the identity's marks.
    assert section("identity-0").count('data-kind="held"') == 2
    assert section("identity-0").count('data-kind="paused"') == 2
    assert 'data-kind="backoff"' not in section("identity-0")
    assert section("identity-1").count('class="mark-span" data-kind="backoff"') == 2
    assert [section("pool").count(f'data-kind="{k}"') for k in ("held", "backoff", "paused")] == [1, 1, 1]
    table = section("guardrails")
    assert [table.count(f'<tr data-kind="{k}"') for k in ("held", "backoff", "paused")] == [1, 1, 1]
    assert "skipped" not in html
    assert parse(html).mismatches == []


def test_report_escapes_mark_text() -> None:
    """Markup in a mark's text, identity or group is shown as text, in the tooltip and in the table."""
    data = synthetic_report(days=2, identities=1)
    data["marks"] = [
        {
            "t": "2026-12-01T10:00:00+09:00",
            "end": "2026-12-01T11:00:00+09:00",
            "kind": "backoff",
            "identity": "<u>x</u>",
            "subject": '"><script>alert(1)</script>',
            "text": "</title><script>alert(2)</script>",
        }
    ]
    html = render_report(data)
    assert "<script" not in html.lower()
    assert "&lt;/title&gt;&lt;script&gt;alert(2)" in html
    assert "u" not in {t for t, _ in parse(html).tags}


def test_a_run_that_ended_paused_never_says_the_campaign_had_nothing_left_to_do() -> None:
    """Stopped early by a pause (recipients still waiting): the header says why the days were left unused."""
    data = synthetic_report(days=3, identities=1)
    data["days_requested"] = 30
    data["state"] = "paused"
    html = render_report(data)
    assert "the campaign paused, and nothing resumes a simulation: 27 of the days asked for left unused" in html
    assert "nothing left to do" not in html


def test_signal_rates_use_the_denominators_the_guardrails_judge_on() -> None:
    """Hard bounces and complaints per accepted mail, opens per delivered: 12 hard bounces of 240 accepted
    (222 delivered) is 5 %, not 5.4 %; 111 opens of 222 delivered is 50 %."""
    data = synthetic_report(days=1, identities=1)
    day = data["signals"][0]["date"]
    data["signals"] = [
        {"date": day, "accepted": 240, "delivered": 222, "hard_bounces": 12, "soft_bounces": 6, "complaints": 0}
        | {"opens": 111, "clicks": 10, "unsubscribes": 0}
    ]
    html = render_report(data)
    row = html.split(f"<td>{day}</td>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="n[^"]*">([^<]+)</td>', row)[-3:] == ["5%", "0%", "50%"]
    assert "% of accepted" in html
    assert "in percent of the mail Tencent accepted" in html
