"""An image model's forgetting probe (`auto` or `knn`): the k-NN accuracy of the image features — by default on
scikit-image's 100 faces and 100 non-faces (`builtin:lfw-faces`), a general visual skill no built-in trains on; or on
a labelled image folder, zip or table the user gives."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.config import ExperimentConfig
from training.core.data.split import stratified_order
from training.core.probes import KNN_K, KnnProbe, Probe, active
from training.errors import ConfigError
from training.tasks.images.data import ImageExamples, decode_table, load_image_table


def build(cfg: ExperimentConfig, prep, cache_dir: Path | None, held_out=None) -> list[Probe]:
    probes = []
    for pc in active(cfg.probes):
        if pc.kind not in ("auto", "knn"):
            raise ConfigError(f"the {pc.kind} probe is for text models; for images use auto (faces vs non-faces) or knn "
                              "with a labelled image source")
        source = pc.source or "builtin:lfw-faces"
        table = load_image_table(source, label_column=pc.label_column)
        pixels, _ = decode_table(table, prep, cache_dir)
        names = table.label_names
        order = stratified_order(table.labels, np.random.default_rng(0))[: pc.max_examples]
        y = np.array([names.index(table.labels[i]) for i in order], dtype=np.int64)
        ex = ImageExamples(pixels[order], y, prep.mean, prep.std)
        counts = np.bincount(y, minlength=len(names))
        what = (f"{counts[0]} faces vs {counts[1]} non-faces (scikit-image)" if source == "builtin:lfw-faces"
                else f"{len(ex)} images of {table.where}")
        probes.append(KnnProbe(ex, 0, source, f"{KNN_K}-NN accuracy of image features on {what}", "probe/visual_knn"))
    return probes
