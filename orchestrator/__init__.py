"""warmup-orchestrator: paced, warm-up-safe bulk sending through Tencent Cloud SES."""

__version__ = "0.1.0"
