"""Recall and latency tables, plots and qualitative figures."""
