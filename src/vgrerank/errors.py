"""Project-wide exception types. Every message names the offending file or config key."""


class VGError(Exception):
    """Base class for vg-rerank errors that carry a user-facing message."""


class DataError(VGError):
    """Bad input data: unreadable image, unparsable file name, empty set, size mismatch."""


class ConfigError(VGError):
    """Invalid configuration: unknown preset, bad value, schema violation."""
