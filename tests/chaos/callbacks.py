"""Tencent's callbacks as a bad network delivers them: out of order, some twice, some before the send is recorded."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from orchestrator.core.quality import metric_of
from orchestrator.ses.emulator.recipients import fate_of
from orchestrator.ses.emulator.world import Behaviour

#: What the recipients do: deliveries, opens, clicks and bounces (below the guardrails' pause lines).
BEHAVIOUR = Behaviour(hard_bounce_rate=0.01, soft_bounce_rate=0.05, open_rate=0.5, click_rate=0.2)


class ShuffledPoster(threading.Thread):
    """Follows the emulator's send log; draws each accepted mail's events and posts them shuffled, some twice."""

    def __init__(self, send_log: Path, url: str, seed: int, prefix: str) -> None:
        super().__init__(daemon=True)
        self.send_log = send_log
        self.prefix = prefix  # this run's recipients' addresses start with it
        self.url = url
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.pending: list[dict[str, Any]] = []
        self.drawn: list[dict[str, Any]] = []
        self.posts = 0
        self.reposts = 0
        self.failed = 0
        self._read = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            self._draw()
            self._post_some(len(self.pending) // 2)
            time.sleep(0.2)

    def finish(self) -> None:
        """Stop following, then post everything still pending (every event reaches the web at least once)."""
        self.stopping.set()
        self.join(timeout=10)
        self._draw()
        while self.pending:
            self._post_some(len(self.pending))

    def _draw(self) -> None:
        lines = self.send_log.read_text(encoding="utf-8").splitlines() if self.send_log.exists() else []
        complete = [ln for ln in lines[self._read :] if ln.endswith("}")]
        for line in complete:
            send = json.loads(line)
            if not str(send["to_address"]).startswith(self.prefix):
                continue
            fate = fate_of(
                self.rng,
                BEHAVIOUR,
                sent_at=float(send["time"]),
                account=send["account"],
                from_address=send["from_address"].rpartition("<")[2].rstrip(">"),
                to_address=send["to_address"],
                message_id=send["message_id"],
                template_id=int(send["template_id"]),
                subject=send["subject"],
            )
            self.drawn += fate.events
            self.pending += fate.events
        self._read += len(complete)

    def _post_some(self, n: int) -> None:
        self.rng.shuffle(self.pending)  # a later event (an open) often comes before its delivery
        batch, self.pending = self.pending[:n], self.pending[n:]
        for event in batch:
            if self._post(event) and self.rng.random() < 0.3:
                self.pending.append(dict(event, _again=True))  # posted again later, as Tencent retries

    def _post(self, event: dict[str, Any]) -> bool:
        body = json.dumps({k: v for k, v in event.items() if k != "_again"}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                ok = bool(resp.status < 300)
        except OSError:
            ok = False
        if not ok:
            self.failed += 1
            self.pending.append(event)  # the web process was busy or Redis restarting: again later
            return False
        self.posts += 1
        self.reposts += bool(event.get("_again"))
        return not event.get("_again")

    def expected_totals(self) -> Counter[str]:
        """Each metric counted once per message, whatever the order and the repeats."""
        seen = {(e["bulkId"], metric_of(e["event"], e["bounceType"])) for e in self.drawn}
        return Counter(metric for _, metric in seen if metric is not None)
