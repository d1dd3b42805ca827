"""The emulator's world for a simulation (orchestrator/simulation/world.py): per-identity rates over per-domain ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.ses.emulator import WorldFileError, world_from_dict
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


def test_world_file_senders_replace_the_behaviour_for_their_mail() -> None:
    """A world file's `senders` entry (address, else domain) gives that sender's mail its own rates; bad ones placed."""
    account = {"name": "default", "secret_id": "a", "secret_key": "b"}
    world = world_from_dict(
        {
            "accounts": [account],
            "behaviour": {"hard_bounce_rate": 0.01},
            "senders": {
                "b.example.com": {
                    "behaviour": {"hard_bounce_rate": 0.07},
                    "domains": {"hanmail.net": {"open_rate": 0.2}},
                },
                "vip@b.example.com": {"behaviour": {"hard_bounce_rate": 0.0}},
            },
        }
    )
    got = [
        world.behaviour_for(domain, sender).hard_bounce_rate
        for domain, sender in (
            ("gmail.com", "news@b.example.com"),
            ("hanmail.net", "news@b.example.com"),
            ("gmail.com", "vip@b.example.com"),
            ("gmail.com", "news@c.example.com"),
        )
    ]
    assert got == [0.07, 0.0, 0.0, 0.01]
    with pytest.raises(WorldFileError, match=r"senders\.x\.behaviour\.open_rate"):
        world_from_dict({"accounts": [account], "senders": {"x": {"behaviour": {"open_rate": 2}}}})
