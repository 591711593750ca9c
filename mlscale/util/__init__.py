"""Helpers every layer may use, importing nothing heavy: `text` (one-line messages), `masking`
(secrets out of every text), `scoped` (process-wide state put back), `interrupts` (SIGTERM as Ctrl-C),
`versions` (the start-up check against the tested versions)."""
