"""Local-feature scorers."""
