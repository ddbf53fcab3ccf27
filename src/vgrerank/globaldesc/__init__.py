"""Global image descriptors for retrieval."""
