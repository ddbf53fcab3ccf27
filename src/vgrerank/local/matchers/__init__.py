"""Local-feature matchers."""
