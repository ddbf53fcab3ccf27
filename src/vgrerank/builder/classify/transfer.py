"""ImageNet transfer: a pretrained backbone (:mod:`vgrerank.backbones`) fine-tuned on two cores.

The backbone's early blocks stay frozen, so their output is computed once per image and view
(:func:`cache_activations`: the photo, its mirror image and ``views - 2`` augmented copies of
:func:`.data.augment`, stored as float16) and every epoch trains only the last ``train_blocks``
inverted-residual blocks, the 1x1 head convolution and a new linear classifier on those cached
activations. Batch norm keeps its ImageNet statistics (eval mode) and the batches draw one
random view per photo. Cross-validation computes the cache once for all folds (it does not
depend on the labels).

Works for the timm EfficientNet family (``mobilenetv2_100``, ``tf_efficientnet_lite0``...):
``conv_stem``, ``bn1``, ``blocks``, ``conv_head``, ``bn2``, ``global_pool``, ``classifier``.
The result is the whole network's state dict, so a checkpoint loads into
``timm.create_model(arch, num_classes=C)`` without the wheel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ...backbones import feature_map_from, get_backbone, load_backbone, trunk
from ...errors import ConfigError, DataError
from .colour import LogisticModel
from .data import augment

VIEWS = 4  # photo, mirror, two augmented copies
TRAIN_BLOCKS = 1
BATCH = 32
LR_BLOCKS, LR_HEAD = 1e-5, 1e-4
PROBE_L2 = 0.3  # ridge penalty of the linear probe (5-fold CV on the real day/night photos)


def _check_layout(model) -> None:
    for attr in ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "global_pool", "classifier"):
        if not hasattr(model, attr):
            raise ConfigError(
                f"{type(model).__name__}: transfer needs an EfficientNet-family network "
                f"(no {attr!r}); use mobilenetv2 or efficientnet-lite0..2"
            )


def _split(model, train_blocks: int) -> int:
    return len(model.blocks) - train_blocks


def _pooled(model, a: torch.Tensor, train_blocks: int) -> torch.Tensor:
    return model.global_pool(feature_map_from(model, _split(model, train_blocks), a)).flatten(1)


def _trained(model, a: torch.Tensor, train_blocks: int) -> torch.Tensor:
    return model.classifier(_pooled(model, a, train_blocks))


def trainable_parameters(model, train_blocks: int) -> tuple[list, list]:
    """(last blocks + head convolution, classifier) parameters."""
    body = [p for b in model.blocks[len(model.blocks) - train_blocks :] for p in b.parameters()]
    body += list(model.conv_head.parameters()) + list(model.bn2.parameters())
    return body, list(model.classifier.parameters())


@torch.no_grad()
def cache_activations(
    backbone: str,
    pixels: torch.Tensor,
    *,
    views: int = VIEWS,
    train_blocks: int = TRAIN_BLOCKS,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = True,
) -> torch.Tensor:
    """Frozen-part activations float16 [N, views, C, h, w] of uint8 ``pixels`` [N, 3, S, S]:
    view 0 the photo, 1 its mirror, 2.. seeded augmentations."""
    if views < 2:
        raise ConfigError(f"views={views}: need at least 2 (the photo and its mirror)")
    b = get_backbone(backbone)
    model = load_backbone(backbone, num_classes=0)
    _check_layout(model)
    if not 1 <= train_blocks <= len(model.blocks):
        raise ConfigError(f"train_blocks={train_blocks}: must be within 1..{len(model.blocks)}")
    gen = torch.Generator().manual_seed(seed)
    mean = torch.tensor(b.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(b.std, dtype=torch.float32).view(1, 3, 1, 1)
    out = []
    steps = range(0, len(pixels), batch_size)
    for i in tqdm(steps, desc=f"cache {backbone}", unit="batch", disable=not progress):
        x = pixels[i : i + batch_size].float().div_(255.0)
        per_view = []
        for v in range(views):
            xv = x if v == 0 else x.flip(3) if v == 1 else augment(x, gen)
            per_view.append(trunk(model, _split(model, train_blocks), (xv - mean) / std).half())
        out.append(torch.stack(per_view, 1))
    if not out:
        raise DataError("transfer: no training images")
    return torch.cat(out)


def fit_transfer(
    backbone: str,
    activations: torch.Tensor,
    y: np.ndarray,
    n_classes: int,
    *,
    epochs: int,
    seed: int = 0,
    train_blocks: int = TRAIN_BLOCKS,
    log: Callable[[str], None] = lambda m: None,
    progress: bool = True,
) -> tuple[torch.nn.Module, dict]:
    """Fine-tune the last ``train_blocks`` blocks and a new ``n_classes`` head of ``backbone``
    on cached ``activations`` (:func:`cache_activations`) with labels ``y``."""
    if len(activations) != len(y):
        raise DataError(f"transfer: {len(activations)} cached images but {len(y)} labels")
    if len(y) < 2:
        raise DataError(f"need at least 2 training images, got {len(y)}")
    if epochs < 1:
        raise ConfigError(f"epochs={epochs}: must be at least 1")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = load_backbone(backbone, num_classes=n_classes)
    model.eval()  # ImageNet batch-norm statistics throughout
    for p in model.parameters():
        p.requires_grad_(False)
    probe = init_head(model, activations, np.asarray(y), n_classes, train_blocks)
    body, head = trainable_parameters(model, train_blocks)
    for p in body + head:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(
        [{"params": body, "lr": LR_BLOCKS}, {"params": head, "lr": LR_HEAD}], weight_decay=0.05
    )
    labels = torch.as_tensor(np.asarray(y), dtype=torch.long)
    n, views = len(labels), activations.shape[1]
    losses = []
    start = training_loss(model, activations, labels, train_blocks)
    bar = tqdm(range(epochs), desc=f"fine-tune {backbone}", unit="epoch", disable=not progress)
    for epoch in bar:
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, BATCH):
            idx = order[i : i + BATCH]
            view = torch.randint(0, views, (len(idx),), generator=gen)
            logits = _trained(model, activations[idx, view].float(), train_blocks)
            loss = F.cross_entropy(logits, labels[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        log(f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.4f}")
    for p in model.parameters():
        p.requires_grad_(True)
    info = {"loss": losses, "train_blocks": train_blocks, "views": views, **probe}
    info["loss_start"] = start  # the probe-initialised network, every view, no augmentation
    info["loss_end"] = training_loss(model, activations, labels, train_blocks)
    return model.eval(), info


@torch.no_grad()
def training_loss(model, activations, labels: torch.Tensor, train_blocks: int) -> float:
    """The training objective (label-smoothed cross-entropy) over every cached view."""
    views = activations.shape[1]
    total = 0.0
    for v in range(views):
        logits = _trained(model, activations[:, v].float(), train_blocks)
        total += F.cross_entropy(logits, labels, label_smoothing=0.1).item()
    return total / views


@torch.no_grad()
def pooled(model, activations: torch.Tensor, train_blocks: int, batch_size: int = 128):
    """Pooled features [N * views, F] of every cached view through the (pretrained) rest."""
    flat = activations.flatten(0, 1)
    out = [
        _pooled(model, flat[i : i + batch_size].float(), train_blocks)
        for i in range(0, len(flat), batch_size)
    ]
    return torch.cat(out).double().numpy()


def init_head(model, activations, y: np.ndarray, n_classes: int, train_blocks: int) -> dict:
    """Linear probe: a ridge logistic regression on the frozen pooled features of every view,
    written into ``model.classifier``, so fine-tuning starts from a good classifier rather than
    from chance (a zero head with a large learning rate can collapse to one class).

    Features are centred and divided by a per-feature scale floored at a tenth of the median
    scale: dividing by the tiny spread of a nearly dead channel would give it a huge weight, and
    the first fine-tuning step that wakes the channel up would blow the logits up."""
    views = activations.shape[1]
    with torch.no_grad():
        feats = pooled(model, activations, train_blocks)
    labels = np.repeat(np.asarray(y, np.int64), views)
    lm = LogisticModel.fit(feats, labels, n_classes, l2=PROBE_L2, std_floor=0.1)
    w = lm.weight / lm.std  # standardised logistic model -> a plain linear layer
    b = lm.bias - w @ lm.mean
    head = model.get_classifier()
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(w, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(b, dtype=head.bias.dtype))
    accuracy = float((lm.proba(feats).argmax(1) == labels).mean())
    return {"probe_train_accuracy": accuracy}


@torch.no_grad()
def cached_proba(model, activations: torch.Tensor, train_blocks: int = TRAIN_BLOCKS) -> np.ndarray:
    """Softmax probabilities of views 0 and 1 (photo and mirror) averaged, from the cache (the
    same as running the whole network with flip averaging)."""
    model.eval()
    p = _trained(model, activations[:, 0].float(), train_blocks).softmax(1)
    p = p + _trained(model, activations[:, 1].float(), train_blocks).softmax(1)
    return (p / 2).numpy()
