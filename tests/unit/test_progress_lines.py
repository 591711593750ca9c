"""The live display's inference line: rows/s from the phase's elapsed time, an ETA only when the total is known."""

from __future__ import annotations

from mlscale.cli.display import rows_line as _rows_line


def test_rate_and_eta_from_rows_done_and_elapsed_time() -> None:
    assert _rows_line(500_000, 2_000_000, 1.0) == "predict 500.0k rows/s, ETA 0:03"
    assert _rows_line(1_200_000, 100_000_000, 0.5) == "predict 2.4M rows/s, ETA 0:41"


def test_no_eta_without_a_total_or_once_done() -> None:
    assert _rows_line(900, None, 3.0) == "predict 300 rows/s"  # CSV input: its size is unknown
    assert _rows_line(10, 10, 1.0) == "predict 10 rows/s"
    assert _rows_line(0, 10, 0.0) == "predict 0 rows/s"  # the first event, before any batch
