"""The words pages and reports use for image classification."""
from __future__ import annotations

from collections.abc import Mapping

from training.tasks.base import Words
from training.tasks.words import ACCURACY_BAND, HEAD_START, NOTES

_band, _references, _literature = (
    ACCURACY_BAND, "the majority class (dashed) and logistic regression on the pixels (16×16 greyscale; dotted)",
    HEAD_START + " **For images:** He et al. (2019, \"Rethinking ImageNet Pre-training\") found detectors trained "
    "from scratch on COCO reach ImageNet-pretrained accuracy with 2–3× longer schedules, but not when the training "
    "set shrinks to ~1k images (≈10% of COCO); Kornblith et al. (2019, \"Do Better ImageNet Models Transfer "
    "Better?\") found fine-tuning beats training from scratch on most of 12 datasets, by the most on small ones, "
    "and that fixed ImageNet features (head-only) trail fine-tuning — least where the images resemble ImageNet's.")
WORDS = Words(band=_band, references=_references, literature=_literature, notes={
        "overfitting": (NOTES["overfitting"] + " **For images:** no data augmentation is applied (the same for every "
                        "strategy), so a network trained from scratch overfits sooner than it would with crops and "
                        "flips."),
    },
              live_references="majority class + pixels")


def probe_note(config: Mapping) -> str:
    """What the image probe scored: the built-in faces unless the experiment gave its own labelled images."""
    probes = [p for p in config.get("probes") or [] if p.get("kind") != "none"]
    source = probes[0].get("source") if probes else None
    what = ("scikit-image's faces vs non-faces (up to 100 of each), which no built-in dataset trains on" if not source
            or source == "builtin:lfw-faces" else f"the labelled images of `{source}` you gave as the old task")
    return (f" **For images:** the probe is the k-nearest-neighbour accuracy of the network's image features on {what} "
            "— the general visual skill a specialised fine-tune can lose.")
