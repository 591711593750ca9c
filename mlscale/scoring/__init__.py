"""Batch inference: `predict` (scoring in this process, the single-file writer, the output
checks), `partitioned` (part files committed by a manifest), `threads` (a model copy per scoring
thread), `pipeline` (read, predict and write overlapped)."""
