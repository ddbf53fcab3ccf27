"""Local features: extractors, matchers, scorers and the registry of method presets."""
