"""The emulator's world for a simulation (orchestrator/simulation/world.py): per-identity rates over per-domain ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.simulation.world import build_world
from tests.pipeline_helpers import load, write_campaign

SIM = {
    "simulation": {
        "hard_bounce_rate": 0.01,
        "open_rate": 0.4,
        "domains": {"naver.com": {"hard_bounce_rate": 0.03, "open_rate": 0.2}},
        "identities": {"w-id1": {"hard_bounce_rate": 0.12}},
    }
}


@pytest.mark.parametrize(
    ("sender", "recipient_domain", "hard", "opens"),
    [
        pytest.param("news@d0.example.com", "gmail.com", 0.01, 0.4, id="plain-identity-any-domain"),
        pytest.param("news@d0.example.com", "naver.com", 0.03, 0.2, id="plain-identity-its-domain-rates"),
        pytest.param("news@d1.example.com", "gmail.com", 0.12, 0.4, id="bad-identity-its-own-rate"),
        pytest.param("news@d1.example.com", "NAVER.com", 0.12, 0.2, id="identity-rate-wins-domain-fills-the-rest"),
        pytest.param("News@D1.example.com", "gmail.com", 0.12, 0.4, id="sender-matched-without-case"),
        pytest.param("", "gmail.com", 0.01, 0.4, id="no-sender-the-world's-rates"),
    ],
)
def test_world_gives_each_sender_its_recipients_behaviour(
    tmp_path: Path, sender: str, recipient_domain: str, hard: float, opens: float
) -> None:
    """A rate set for the identity wins; one left out comes from the recipient domain, then from the campaign."""
    spec, _ = load(write_campaign(tmp_path, 4, "w", identities=2, extra=SIM))
    got = build_world(spec).behaviour_for(recipient_domain, sender)
    assert (got.hard_bounce_rate, got.open_rate) == (hard, opens)
