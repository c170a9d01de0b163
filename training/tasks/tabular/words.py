"""The words pages and reports use for a table: the network is an MLP from scratch, the references are what a tabular
team would use instead."""
from __future__ import annotations

from training.tasks.base import Words
from training.tasks.words import SPREAD_BAND

TABLE_READ = (
    "**How to read this:** each line is a strategy; x is the number of labelled training examples (log scale), y "
    "the eval metric of each run's final model: its last weights, or its best checkpoint where validation shows "
    "that one clearly better (switch to best checkpoints or last weights in the sidebar).")
TABLE_LITERATURE = (
    " **What the literature finds:** no pretrained model exists for a table's own columns, so only training from "
    "scratch runs; the grey lines are what a tabular team would use instead — gradient-boosted trees (scikit-learn's "
    "HistGradientBoosting, tuned on the validation set) and a linear model. Grinsztajn et al. (2022, \"Why do "
    "tree-based models still outperform deep learning on tabular data?\") found trees ahead of neural "
    "networks on medium-sized tables (~10k rows); Gorishniy et al. (2021) found a well-tuned MLP competitive "
    "on some. The chart answers it for your table.")
TABLE_NOTES = {
    "curves": (
        "**How to read this:** loss against the chosen x-axis, one line per run; solid is validation loss (held out "
        "of training; it picks the best checkpoint and when training stops), dotted is training loss. Switch x to "
        "FLOPs or wall-clock to compare cost, not steps. **What the literature finds:** a widening gap between "
        "training and validation loss means the network is memorising its small training set."),
    "compute": (
        "**How to read this:** what the network spent, averaged over seeds: training wall-clock (evaluation "
        "excluded), GPU-seconds, analytic training FLOPs, MFU (achieved / peak FLOP/s, GPUs only), peak memory, "
        "trainable parameters and money at your price per device-hour. **What to expect:** an MLP on a table is "
        "small, so its cost is mostly its number of steps, which grows with the data as it trains until it stops "
        "improving; the gradient-boosted trees and the linear model beside it fit in seconds of CPU."),
    "overfitting": (
        "**How to read this:** training and validation loss per run, compared at every evaluation; a flag means "
        "validation loss ended >5% above its best while training loss kept falling (memorising), or ended at "
        "1.5× the training loss or more with the gap widening. Each run is also scored at its best checkpoint "
        "(sidebar), from before an overfitting run overfit. **What the literature finds:** small tables overfit; for "
        "an MLP on a table, regularisation (weight decay, dropout, early stopping) matters as much as its shape "
        "(Kadra et al. 2021, \"Well-tuned Simple Nets Excel on Tabular Datasets\")."),
}
"""A table's notes where the general one speaks of pretrained models a table does not have."""

_band, _references, _literature = (
    " The band is a 95% interval over seeds, kept inside [0, 1] (with one seed, the Wilson interval of the eval "
    "set's size — eval-set noise only).",
    "the majority class (dashed), gradient-boosted trees (dotted) and a linear model (dash-dot)", TABLE_LITERATURE)
CLASSIFICATION = Words(band=_band, references=_references, literature=_literature, read=TABLE_READ, network="network",
                       notes=TABLE_NOTES, live_references="majority, linear, trees")

_band, _references, _literature = (
    SPREAD_BAND, "the training mean (dashed), gradient-boosted trees (dotted) and a linear model (dash-dot)",
    TABLE_LITERATURE)
REGRESSION = Words(band=_band, references=_references, literature=_literature, read=TABLE_READ, network="network",
                   notes=TABLE_NOTES, trivial="the training mean", live_references="mean, linear, trees")
