"""Core training: data, base models, strategies, the one loop, checkpoints, evaluation, forgetting probes, FLOPs and
memory accounting, reference baselines. Knows nothing of the store, the dispatcher or the UI."""
