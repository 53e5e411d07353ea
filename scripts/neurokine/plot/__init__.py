"""Deterministic figures, the therapy panel and the self-contained HTML report."""
