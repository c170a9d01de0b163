"""The words every task kind starts from: the notes under each figure as they read for a model with a pretrained base,
and sentences several kinds share. A kind's own words (`training/tasks/<kind>/words.py`) replace or extend them;
`training.analysis.figures.note` chooses."""
from __future__ import annotations

NOTES = {
    "data_needs": (
        "**How to read this:** each line is a strategy; x is the number of labelled training examples (log "
        "scale), y the eval metric of each run's final model: its last weights, or its best checkpoint where validation "
        "shows that one clearly better (switch to best checkpoints or last weights in the sidebar)."),
    "curves": (
        "**How to read this:** loss against the chosen x-axis, one line per run, coloured by strategy; solid "
        "is validation loss (held out of training; it picks the best checkpoint and when scratch stops), dotted "
        "is training loss. Switch x to FLOPs or wall-clock to compare cost, not steps. "
        "**What the literature finds:** pretrained starts converge in a fraction of the steps; scratch needs a "
        "higher learning rate and many more steps, and a widening gap between training and eval loss means "
        "the model is memorising its small training set."),
    "probe": (
        "**How to read this:** the forgetting probe — a skill the base model had before training — measured during "
        "training. The dashed line is the untouched base. Scratch's line is its own probe score: trained from random "
        "weights, it never had the base model's skill, so its distance from the dashed line is not forgetting. "
        "**What the literature finds:** full fine-tuning drifts away from the "
        "base and forgets; a frozen encoder (head-only) forgets nothing; LoRA forgets less than full "
        "fine-tuning (Biderman et al. 2024)."),
    "forgetting": (
        "**How to read this:** forgetting = how much worse the probe is at the end than on the untouched base "
        "(positive = forgot), mean over seeds with a 95% interval. Scratch has no forgetting: trained from random "
        "weights, it never had the base model's skill, so it has no bar (the forgetting table lists its probe score, "
        "labelled as such). **What the literature finds:** forgetting grows with how much of the model "
        "trains and how far: head ≈ 0 < LoRA < full."),
    "tradeoff": (
        "**How to read this:** each point is a run that started from the base model: x = forgetting (left is better), "
        "y = eval metric (up is better); scratch never had the base model's skill, so it has no forgetting to place. "
        "The line joins the Pareto frontier — runs no other run beats on both; greyed points are "
        "dominated. **What the literature finds:** LoRA and full fine-tuning lie on roughly one frontier, "
        "LoRA at the learns-less, forgets-less end (Biderman et al. 2024)."),
    "crossover": (
        "**How to read this:** for each training-set size N and each pretrained strategy, the size at which a strategy "
        "trained from random weights is forecast to reach that strategy's measured level at N. Each strategy's learning "
        "curve is a straight line in ln N through its sizes that passed the checks — on the logit of the metric for a "
        "proportion (higher is better), on its log for a metric where lower is better — fitted by least squares. The "
        "95% interval refits it on 400 redraws of every cell: the eval set's sampling noise (the same eval examples "
        "resampled in every cell) and, where a cell has 2 or more seeds, the spread between seeds; with one seed that "
        "spread is not measured, and the table's last column says so. A forecast beyond 10× the largest size measured "
        "is not given: a straight line says little that far out. Below, the curve refitted without the largest size "
        "predicts it (a backtest): a measured value outside its interval means the curve bends, so read the forecasts "
        "as rough. **What the literature finds:** error falls as a power of the data over a middle range and bends "
        "at both ends — at small N, where a model barely learns, and near the best it can do (Hestness et al. 2017); "
        "training from scratch closes part of the gap only with much more data and steps (He et al. 2019)."),
    "compute": (
        "**How to read this:** what each strategy spent, averaged over seeds: training wall-clock (evaluation "
        "excluded), GPU-seconds, analytic training FLOPs, MFU (achieved / peak FLOP/s, GPUs only), peak "
        "memory, trainable parameters and money at your price per device-hour. **What the literature finds:** "
        "head-only costs a forward pass per example; LoRA saves optimizer memory and some backward FLOPs but "
        "on small models is rarely faster per step; scratch costs what full fine-tuning costs per step and "
        "needs more steps."),
    "overfitting": (
        "**How to read this:** training and validation loss per run, compared at every evaluation; a flag means "
        "validation loss ended >5% above its best while training loss kept falling (memorising), or ended at "
        "1.5× the training loss or more with the gap widening. Each run is also scored at its best checkpoint "
        "(sidebar), from before an overfitting run overfit. **What the literature finds:** small training sets "
        "overfit, scratch most (He et al. 2019: at ~1k images scratch matched training loss but not "
        "validation accuracy)."),
}
"""The notes as they read for a model with a pretrained base; a kind's `Words.notes` replaces or extends them."""

HEAD_START = (
    " **What the literature finds:** fine-tuning is training with a head start — it is far ahead at small N, "
    "and training from scratch closes part of the gap only with much more data and steps (Hernandez et al. "
    "2021; He et al. 2019 found scratch catches up given enough data and iterations, but not at ~1k examples).")
ACCURACY_BAND = (" The band is a 95% interval: over seeds on the logit scale so it stays inside [0, 1] (with one seed, "
                 "the Wilson interval of the eval set's size — eval-set noise only).")
SPREAD_BAND = (" The band is a 95% t-interval over seeds; with one seed it can show at most the eval set's sampling "
               "noise, not the seed-to-seed spread.")
