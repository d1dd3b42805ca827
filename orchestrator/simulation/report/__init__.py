"""The simulation report: one self-contained HTML page (inline CSS and SVG, no script, nothing fetched)."""

from __future__ import annotations

from functools import cache
from html import escape
from importlib.resources import files
from string import Template
from typing import Any

from orchestrator.charts.svg import CHART_CSS
from orchestrator.simulation.report import guard_section, sections, signal_section
from orchestrator.simulation.report.model import read

__all__ = ["render_report"]


@cache
def _page() -> Template:
    return Template(files(__package__).joinpath("page.html").read_text(encoding="utf-8"))


def render_report(data: dict[str, Any]) -> str:
    """The HTML report of one simulated campaign; `data` has the shape `orchestrate simulate` collects."""
    report = read(data)
    body = [sections.header(report), sections.navigation(report), sections.summary(report)]
    if report.identities:
        body.extend(sections.identity(report, i, name) for i, name in enumerate(report.identities))
    else:
        body.append(
            '<section class="card"><h2>Identities</h2><p class="empty-note">No sending identities.</p></section>'
        )
    body += [
        sections.pool(report),
        sections.domains(report),
        sections.outcomes(report),
        signal_section.signals(report),
        guard_section.guard_events(report),
        sections.events(report),
    ]
    title = f"{report.campaign or 'Campaign'}: simulation report"
    return _page().substitute(title=escape(title), body="\n".join(body), chart_css=CHART_CSS)
