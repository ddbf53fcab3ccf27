"""The torch device of every stage, from the config key ``device``.

``resolve_device`` is the one place a torch device is chosen (local extractors and matchers,
CosPlace, the builder's classifiers, re-ranking):

* ``"auto"``: ``cuda`` when ``torch.cuda.is_available()``, else ``cpu``;
* ``"cpu"``: the CPU;
* ``"cuda"`` / ``"cuda:N"``: that GPU; a :class:`~vgrerank.errors.ConfigError` naming the key
  ``device`` when CUDA is not available (or GPU ``N`` does not exist), instead of a torch error
  deep inside a stage;
* anything else: :class:`~vgrerank.errors.ConfigError`.

A :class:`torch.device` is accepted too (and checked the same way). CPU results do not depend on
how the CPU was chosen: ``"auto"`` on a machine without CUDA is exactly ``"cpu"``.
"""

from __future__ import annotations

import re

import torch

from .errors import ConfigError

_CUDA = re.compile(r"cuda(?::(\d+))?")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """The torch device for the config value ``spec`` ('auto' | 'cpu' | 'cuda' | 'cuda:N')."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise ConfigError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    name = spec.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    m = _CUDA.fullmatch(name)
    if m is None:
        raise ConfigError(f"device: {spec!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device: {spec!r} requested but CUDA is not available (torch {torch.__version__}, "
            f"built for CUDA {torch.version.cuda or 'none'}, no usable GPU); "
            "use device: auto (cuda when available, else cpu) or device: cpu"
        )
    if m.group(1) is not None:
        count = torch.cuda.device_count()
        if int(m.group(1)) >= count:
            raise ConfigError(f"device: {spec!r} requested but only {count} CUDA device(s) exist")
    return torch.device(name)
