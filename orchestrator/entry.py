"""The `orchestrate` executable: the CLI, and a Ctrl-C while it loads ends it quietly."""

from __future__ import annotations

from orchestrator.core.exit_codes import EXIT_INTERRUPTED


def main() -> None:
    """Load and run the CLI; Ctrl-C before it has loaded exits 130 with no traceback (nothing has begun)."""
    try:
        from orchestrator.cli import main as cli
    except KeyboardInterrupt:
        raise SystemExit(EXIT_INTERRUPTED) from None
    cli()
