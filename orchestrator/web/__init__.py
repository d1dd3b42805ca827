"""The web process: Tencent's callbacks, the live status page, /healthz and /metrics."""
