"""Torch plumbing for networks written here from their papers (SuperPoint, SuperGlue).

* :data:`EXTERNAL`: the weight files of :data:`vgrerank.weights.WEIGHTS` the user downloads
  from the official URL whose sha256 is not pinned (derived from that one table);
  :func:`resolve_external` finds one from the method's
  ``weights`` conf key or at ``$VGRERANK_WEIGHTS_DIR/<file>``, with a
  :class:`~vgrerank.errors.ConfigError` naming the file, the URL and the licence when absent.
  A ``sha256`` conf key, when given, is checked (:func:`vgrerank.weights.verify_sha256`).
* :func:`load_strict`: ``strict=True`` loading that first lists, by name, the missing,
  unexpected and mis-shaped keys of a checkpoint (:class:`~vgrerank.errors.DataError` naming the
  file), then loads through :func:`vgrerank.weights.load_state_dict_strict`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError, DataError
from ..weights import (
    WEIGHTS,
    WEIGHTS_DIR_ENV,
    WeightFile,
    load_checkpoint,
    load_state_dict_strict,
    verify_sha256,
)

# the user-downloaded official checkpoints whose sha256 is not pinned (a subset of WEIGHTS)
EXTERNAL: dict[str, WeightFile] = {n: w for n, w in WEIGHTS.items() if not w.pinned}

# BatchNorm counters: old checkpoints (e.g. SuperGlue's) may lack them; they are not learned
OPTIONAL_SUFFIXES = ("num_batches_tracked",)


def resolve_external(
    name: str, path: str | os.PathLike | None = None, sha256: str | None = None
) -> Path:
    """Path of the user-provided weight file ``name`` of :data:`EXTERNAL`, checked to exist."""
    entry = EXTERNAL[name]
    hint = f"download: {entry.url} (licence: {entry.licence})"
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"weights: file {path} (given for {name!r}) does not exist; {hint}")
    else:
        root = os.environ.get(WEIGHTS_DIR_ENV)
        if not root:
            raise ConfigError(
                f"weights {name!r}: no file given; set the method's 'weights' conf key to the "
                f"file {Path(entry.file).name}, or set ${WEIGHTS_DIR_ENV} so that "
                f"${WEIGHTS_DIR_ENV}/{entry.file} exists; {hint}"
            )
        path = Path(root) / entry.file
        if not path.is_file():
            raise DataError(f"{path}: weight file for {name!r} not found; {hint}")
    if sha256:
        verify_sha256(path, sha256, name)
    return path


def _listing(keys: list[str], limit: int = 12) -> str:
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def state_dict_problems(module, state_dict: dict) -> list[str]:
    """Missing, unexpected and mis-shaped keys of ``state_dict`` for ``module`` (empty: fits)."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict and not k.endswith(OPTIONAL_SUFFIXES)]
    unexpected = [k for k in state_dict if k not in own]
    shaped = [
        f"{k} {tuple(state_dict[k].shape)} (expected {tuple(own[k].shape)})"
        for k in own
        if k in state_dict
        and hasattr(state_dict[k], "shape")
        and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shaped)):
        if keys:
            problems.append(f"{len(keys)} {what} key(s): {_listing(keys)}")
    return problems


def load_strict(module, path: str | os.PathLike, state_dict: dict | None = None):
    """Load ``path`` (or an already loaded ``state_dict``) into ``module`` strictly; a mismatch
    is a DataError naming the file and listing the offending keys. Returns ``module``."""
    sd = load_checkpoint(path) if state_dict is None else state_dict
    if not isinstance(sd, dict):
        raise DataError(f"{path}: expected a state_dict (dict of tensors), got {type(sd).__name__}")
    problems = state_dict_problems(module, sd)
    if problems:
        raise DataError(
            f"{path}: weights do not fit {type(module).__name__}: " + "; ".join(problems)
        )
    derived = tuple(k for k in module.state_dict() if k not in sd)  # optional counters only
    load_state_dict_strict(module, sd, path, derived=derived)
    return module
