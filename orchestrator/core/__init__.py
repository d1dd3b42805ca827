"""The pure core: campaign model, warm-up plan, pacing math, outcomes. No I/O, no clock reads."""
