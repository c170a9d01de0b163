"""The built-in image model's input normalisation and its training speed by image size — the evidence behind
`training/core/vision.py`'s preprocessing and the image presets' sizes.

    python bench/image_preprocessing.py

1. EfficientNet-Lite0's ImageNet top-3 on six of scikit-image's sample photos (a cat, an espresso, a moped, …)
   with the TensorFlow-Lite normalisation (x − 127) / 128 and with torchvision's ImageNet mean/std, side by side:
   the right one gives the right classes with the higher confidence.
2. Training images per second (forward + backward + AdamW step, batch 32) at 224, 96, 64, 48 and 32 pixels on
   this machine, measured one after another in one run.
"""
from __future__ import annotations

import time
from importlib import resources

import numpy as np
import torch
from PIL import Image

from training.config import ModelConfig
from training.tasks import task_kind

PHOTOS = {"cat (281–285)": "chelsea.png", "espresso (967)": "coffee.png", "moped (665)": "motorcycle_left.png",
          "rocket (657)": "rocket.jpg", "astronaut": "astronaut.png", "horse (339)": "horse.png"}
NORMALISATIONS = {"(x − 127) / 128": ((127 / 255,) * 3, (128 / 255,) * 3),
                  "ImageNet mean/std": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


def square(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    s = min(w, h)
    return img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((size, size), Image.BICUBIC)


def main() -> None:
    from efficientnet_lite_pytorch import EfficientNet

    kind = task_kind("image-classification")
    weights = kind.resolve_base("builtin:efficientnet-lite0")
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(weights, weights_only=True))  # with its 1000-class layer
    net.eval()
    folder = resources.files("skimage") / "data"
    print("| photo | " + " | ".join(NORMALISATIONS) + " |\n|---|---|---|")
    for name, file in PHOTOS.items():
        img = square(Image.open(folder / file).convert("RGB"), 224)
        cells = []
        for mean, std in NORMALISATIONS.values():
            x = (torch.tensor(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1) - torch.tensor(mean)[:, None, None]) \
                / torch.tensor(std)[:, None, None]
            with torch.no_grad():
                p = net(x[None]).softmax(-1)[0]
            top = p.topk(3)
            cells.append(", ".join(f"{int(i)} {float(v):.2f}" for v, i in zip(top.values, top.indices, strict=True)))
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\ntraining speed on {torch.get_num_threads()} threads (batch 32, images per second):")
    for size in (224, 96, 64, 48, 32):
        model = kind.build_model(weights, pretrained=True, num_labels=10, cfg=ModelConfig(image_size=size), seed=0)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x, y = torch.randn(32, 3, size, size), torch.randint(0, 10, (32,))
        times = []
        for _ in range(4):
            t0 = time.perf_counter()
            torch.nn.functional.cross_entropy(model(pixel_values=x), y).backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t0)
        print(f"  {size:>3} px: {32 / np.median(times[1:]):7.1f}")


if __name__ == "__main__":
    main()
