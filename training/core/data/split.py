"""Deterministic train/eval splits and nested training subsets.

Split: stratified by label, and by group when groups exist — a group (document, module, file) lies
wholly on one side. The split depends only on the data and `split_seed`, so every run of an
experiment shares one eval set.

Nested subsets: the training pool is put in one *stratified order*; the subset of size N is the first
N examples of that order. So N=100 ⊂ N=1000 for the same order. The order starts with one example of
each class (so any N ≥ number of classes sees every class), then interleaves classes in proportion
to their frequency, so every prefix is close to the pool's class balance. With
`subset_policy: fixed` one order (seeded by split_seed) serves every run seed; with `per-seed` each
run seed has its own order — still nested across sizes within that seed.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np


def train_eval_split(n: int, labels: list[str] | None, groups: list[str] | None, eval_fraction: float,
                     eval_max: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, eval), both sorted."""
    rng = np.random.default_rng(seed)
    groups = groups if groups is not None else [str(i) for i in range(n)]
    labels = labels if labels is not None else [""] * n
    # A group's class is its most common label; classification data with groups is assigned whole.
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_class: dict[str, list[str]] = defaultdict(list)
    for g, idx in members.items():
        values, counts = np.unique([labels[i] for i in idx], return_counts=True)
        by_class[str(values[np.argmax(counts)])].append(g)

    eval_groups: set[str] = set()
    for cls in sorted(by_class):
        gs = sorted(by_class[cls])
        rng.shuffle(gs)
        total = sum(len(members[g]) for g in gs)
        target, taken = eval_fraction * total, 0
        # Keep at least one group of every class for training.
        for g in gs[:-1] if len(gs) > 1 else []:
            if taken >= target:
                break
            if taken + len(members[g]) > 2 * target and taken > 0:
                continue  # a huge group would overshoot; try smaller ones
            eval_groups.add(g)
            taken += len(members[g])
    is_eval = np.zeros(n, dtype=bool)
    for g in eval_groups:
        is_eval[members[g]] = True
    train_idx, eval_idx = np.flatnonzero(~is_eval), np.flatnonzero(is_eval)
    if eval_max is not None and len(eval_idx) > eval_max:
        eval_idx = np.sort(eval_idx[stratified_order([labels[i] for i in eval_idx], rng)[:eval_max]])
    return train_idx, eval_idx


def stratified_order(labels: list[str], rng: np.random.Generator) -> np.ndarray:
    """A permutation of range(len(labels)) whose every prefix is approximately stratified."""
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    first, keys, rest = [], [], []
    classes = sorted(by_class)
    rng.shuffle(classes)
    for cls in classes:
        idx = np.array(by_class[cls])
        rng.shuffle(idx)
        first.append(int(idx[0]))
        m = len(idx)
        # Position i of a class of size m goes to (i + u) / m of the way through the order.
        for rank, j in enumerate(idx[1:], start=1):
            rest.append(int(j))
            keys.append((rank + rng.random()) / m)
    order = first + [rest[k] for k in np.argsort(keys, kind="stable")]
    return np.asarray(order, dtype=np.int64)


def nested_subset_order(train_labels: list[str] | None, n_pool: int, split_seed: int, run_seed: int,
                        policy: str) -> np.ndarray:
    """The order whose first N entries (indices into the training pool) are the size-N subset."""
    seed = split_seed if policy == "fixed" else hash_seeds(split_seed, run_seed)
    rng = np.random.default_rng(seed)
    labels = train_labels if train_labels is not None else [""] * n_pool
    return stratified_order(labels, rng)


def hash_seeds(*seeds: int) -> int:
    return int(np.random.SeedSequence(list(seeds)).generate_state(1)[0])
