"""Per-cell signature scoring in one sparse pass, and per sample x cell-type aggregation."""
