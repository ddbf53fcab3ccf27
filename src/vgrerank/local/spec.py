"""Method specs: the one place where an extractor / matcher / scorer type is described.

Each folder (``extractors/``, ``matchers/``, ``scorers/``) has a torch-free ``specs`` module
whose ``SPECS`` maps a type name (the presets' ``type``) to a :class:`MethodSpec`: the class
(``module:Class`` inside that folder, imported lazily so that listing presets never imports
torch), its parameters (:class:`P`: default and check, see :mod:`vgrerank.presets`), the weight
files it may load (names of :data:`vgrerank.weights.WEIGHTS`) and whether it is learned.

Derived from the specs, never written twice: the class's ``default_conf``
(:func:`default_conf`), the registry's type tables and parameter schemas
(:data:`vgrerank.local.registry.PARAMS`), and whether a type takes a ``device``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ..presets import Check, integer, optional, string

# checks shared by several specs
POS_INT = integer(1)
OPT_POS_INT = optional(POS_INT)
OPT_STR = optional(string())
# the classical RANSAC flavours of vgrerank.local.scorers.geometric.METHODS
GEOMETRIC_METHODS = ("magsac", "ransac", "usac", "accurate", "prosac", "fast", "parallel", "lmeds")


@dataclass(frozen=True)
class P:
    """One parameter: its default and its check (a :mod:`vgrerank.presets` checker)."""

    default: object
    check: Check


@dataclass(frozen=True)
class MethodSpec:
    cls: str  # "module:Class" inside the kind's folder
    params: dict[str, P]
    weights: tuple[str, ...] = ()  # names of vgrerank.weights.WEIGHTS it may load
    learned: bool = False

    @property
    def takes_device(self) -> bool:
        return "device" in self.params

    @property
    def takes_seed(self) -> bool:
        return "seed" in self.params

    def default_conf(self) -> dict:
        return {k: copy.deepcopy(p.default) for k, p in self.params.items()}

    def schema(self) -> dict[str, Check]:
        return {k: p.check for k, p in self.params.items()}


def default_conf(specs: dict[str, MethodSpec], type_name: str) -> dict:
    """The ``default_conf`` of the class implementing ``type_name`` (for the class body)."""
    return specs[type_name].default_conf()
