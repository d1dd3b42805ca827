"""Chart building blocks shared by the simulation's report and the web process's live page (inline SVG, no I/O)."""
