"""A sampled campaign for `simulate --sample F`: a stable hash sample of the recipients, caps scaled alike."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from orchestrator.core.campaign import Campaign
from orchestrator.core.guardrails import CeilingSpec, FloorSpec, GuardrailsSpec, default_lines
from orchestrator.core.plan import RAMPED, Mode
from orchestrator.recipients import open_recipients

#: The sampled copy of the recipients, in the output folder (kept with the report of a finished run).
SAMPLED_FILE = "recipients.sampled.csv"


def sample_campaign(spec: Campaign, fraction: float, out: Path) -> Campaign:
    """The campaign with about `fraction` of its recipients (a stable hash sample) and caps x fraction."""
    if not 0 < fraction <= 1:  # also refuses nan
        msg = f"the sample must be a fraction in (0, 1], got {fraction}"
        raise ValueError(msg)
    sampled = out / SAMPLED_FILE
    limit = _limit(fraction)
    with (
        open_recipients(spec.recipients) as src,
        sampled.open("w", newline="", encoding="utf-8") as dst,
    ):
        writer = csv.writer(dst, delimiter=spec.recipients.delimiter)
        writer.writerow(src.header_cells)
        for _line, row in src.records(raw=True):  # the rows as written: the copy is read like the file
            if _kept(row, limit):
                writer.writerow(row)
    plan = spec.plan.model_copy(
        update={
            "scale": spec.plan.scale * fraction,
            "target_daily": max(1, int(spec.plan.target_daily * fraction)) if spec.plan.target_daily else None,
        }
    )
    idents = [
        i.model_copy(update={"daily_quota": max(1, int(i.daily_quota * fraction)) if i.daily_quota else None})
        for i in spec.identities
    ]
    recips = spec.recipients.model_copy(update={"file": sampled.resolve(), "encoding": "utf-8"})
    guardrails = _scaled_samples(spec, fraction)
    return spec.model_copy(update={"plan": plan, "identities": idents, "recipients": recips, "guardrails": guardrails})


def keeps_any(spec: Campaign, fraction: float) -> bool:
    """Whether the sample `sample_campaign` takes keeps at least one recipient; the file is read only up to the
    first it keeps. RecipientFileError as `open_recipients`."""
    limit = _limit(fraction)
    with open_recipients(spec.recipients) as src:
        # A blank row is no recipient (submit skips it), kept or not.
        return any(_kept(row, limit) for _line, row in src.records(raw=True) if "".join(row).strip())


def _limit(fraction: float) -> int:
    return int(fraction * 2**32)


def _kept(row: list[str], limit: int) -> bool:
    """Whether the row, as written, is in the sample: its hash, not its place, decides (the same rows every run)."""
    key = ",".join(row).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") < limit


def _scaled_samples(spec: Campaign, fraction: float) -> GuardrailsSpec:
    """The guardrails with each line's minimum sample scaled like the sends, so a line is judged at the
    same point of the sampled run as of the full one (its confidence bound is still wider on fewer sends)."""
    defaults = {line.metric: line for line in default_lines(spec.content)}
    g = spec.guardrails
    parts: dict[str, CeilingSpec | FloorSpec] = {"hard_bounce": g.hard_bounce, "complaint": g.complaint, "open": g.open}
    return g.model_copy(
        update={
            name: part.model_copy(
                update={"min_sample": max(1, round((part.min_sample or defaults[name].min_sample) * fraction))}
            )
            for name, part in parts.items()
        }
    )


def sample_note(fraction: float, mode: Mode = Mode.WARMUP) -> str:
    """The report's and the summary's word on a sampled run: in a mode without a ramp, its caps are not scaled."""
    bound = "on fewer sends a rate's confidence bound is wider, so a guardrail acts later than in the full run."
    if mode not in RAMPED:
        return (
            f"Sampled preview: recipients and the guardrails' minimum samples scaled by {fraction:g} "
            f"(simulate --sample {fraction:g}), not the caps (mode {mode.value} has no plan to scale), so it "
            f"finishes sooner than the real campaign would; {bound}"
        )
    return (
        f"Sampled preview: recipients, caps and the guardrails' minimum samples scaled by {fraction:g} "
        f"(simulate --sample {fraction:g}); {bound}"
    )
