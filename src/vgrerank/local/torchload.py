"""Torch plumbing for networks written here from their papers (SuperPoint, SuperGlue).

* :data:`EXTERNAL`: weight files the user downloads from the official URL (no wheel ships them
  and their sha256 is not pinned here); :func:`resolve_external` finds one from the method's
  ``weights`` conf key or at ``$VGRERANK_WEIGHTS_DIR/<file>``, with a
  :class:`~vgrerank.errors.ConfigError` naming the file, the URL and the licence when absent.
  A ``sha256`` conf key, when given, is checked (:func:`vgrerank.local.weights.verify_sha256`).
* :func:`load_strict`: ``strict=True`` loading that first lists, by name, the missing,
  unexpected and mis-shaped keys of a checkpoint (:class:`~vgrerank.errors.DataError` naming the
  file), then loads through :func:`vgrerank.local.weights.load_state_dict_strict`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError, DataError
from .weights import (
    WEIGHTS_DIR_ENV,
    WeightFile,
    load_checkpoint,
    load_state_dict_strict,
    verify_sha256,
)

_MAGICLEAP = "https://github.com/magicleap/SuperGluePretrainedNetwork/raw/master/models/weights/{}"
_MAGICLEAP_LIC = (
    "Magic Leap SuperGlue licence: academic or non-commercial research use only; "
    "never shipped with vg-rerank"
)

EXTERNAL: dict[str, WeightFile] = {
    w.name: w
    for w in (
        WeightFile(
            name,
            f"superglue/{file}",
            "",
            _MAGICLEAP_LIC,
            _MAGICLEAP.format(file),
        )
        for name, file in (
            ("superpoint", "superpoint_v1.pth"),
            ("superglue-outdoor", "superglue_outdoor.pth"),
            ("superglue-indoor", "superglue_indoor.pth"),
        )
    )
}
# D2-Net (mihaidusmanu/d2-net; the README's link, formerly https://dsmn.ml/files/d2-net/...)
EXTERNAL["d2net-tf"] = WeightFile(
    "d2net-tf",
    "d2net/d2_tf.pth",
    "",
    "BSD-3-Clause-Clear (the Clear BSD License of mihaidusmanu/d2-net)",
    "https://dusmanu.com/files/d2-net/d2_tf.pth",
)
# LoFTR (zju3dv/LoFTR, Apache-2.0, SenseTime): kornia's mirror of the official checkpoints
# (the authors' Google Drive folder in zju3dv/LoFTR's README: outdoor_ds.ckpt, indoor_ds.ckpt,
# indoor_ds_new.ckpt)
for _model in ("outdoor", "indoor", "indoor_new"):
    _file = f"loftr_{_model.replace('_new', '_ds_new')}.ckpt"
    EXTERNAL[f"loftr-{_model}"] = WeightFile(
        f"loftr-{_model}",
        f"loftr/{_file}",
        "",
        "Apache-2.0 (zju3dv/LoFTR, SenseTime)",
        f"https://huggingface.co/kornia/loftr/resolve/main/{_file}",
    )
# DELG (tensorflow/models research/delf, Apache-2.0): the URL is the official TF SavedModel;
# the file here is its conversion (vgrerank.local.extractors.delg: python -m ... <dir> <out>)
for _model, _stamp in (("gld", "20200814"), ("gldv2clean", "20200914")):
    EXTERNAL[f"delg-r50-{_model}"] = WeightFile(
        f"delg-r50-{_model}",
        f"delg/r50delg_{_model}_{_stamp}.pth",
        "",
        "Apache-2.0 (tensorflow/models, research/delf)",
        f"https://storage.googleapis.com/delf/r50delg_{_model}_{_stamp}.tar.gz",
    )
# Reranking Transformer (uvavision/RerankingTransformer, GPL-3.0): checkpoints in the repository
for _model in ("gldv1", "gldv2"):
    EXTERNAL[f"rrt-r50-{_model}"] = WeightFile(
        f"rrt-r50-{_model}",
        f"rrt/r50_{_model}.pt",
        "",
        "GPL-3.0 (uvavision/RerankingTransformer; never shipped with vg-rerank)",
        "https://github.com/uvavision/RerankingTransformer/raw/main/RRT_GLD/rrt_gld_ckpts/"
        f"r50_{_model}.pt",
    )
# TransVPR (RuotongWANG/TransVPR-model-implementation; plain state_dicts in the repository)
for _model, _file in (("msls", "TransVPR_MSLS.pth"), ("pitts30k", "TransVPR_Pitts30k.pth")):
    EXTERNAL[f"transvpr-{_model}"] = WeightFile(
        f"transvpr-{_model}",
        f"transvpr/{_file}",
        "",
        "no licence stated (RuotongWANG/TransVPR-model-implementation has no LICENSE file: all "
        "rights reserved; research use at your own judgement; never shipped with vg-rerank)",
        f"https://github.com/RuotongWANG/TransVPR-model-implementation/raw/main/{_file}",
    )
# CVNet (sungonce/CVNet; {'model_state': state_dict}, from the authors' Google Drive folder)
for _depth in (50, 101):
    EXTERNAL[f"cvnet-r{_depth}"] = WeightFile(
        f"cvnet-r{_depth}",
        f"cvnet/CVPR2022_CVNet_R{_depth}.pyth",
        "",
        "no licence stated (sungonce/CVNet has no LICENSE file: all rights reserved; its pycls "
        "files carry Facebook's MIT header; never shipped with vg-rerank)",
        "https://drive.google.com/drive/folders/1gMbZ8JlTyPlH2-6HW5NHRe58LmKfJybx "
        f"(file CVPR2022_CVNet_R{_depth}.pyth)",
    )

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
