"""One CYBORG training step of a torchvision network in PyTorch (CPU), timed: the reference for
`deno task bench:cpu --compare-torch` (bench/cpu_options.ts).

    /usr/bin/python3 bench/torch_cyborg_step.py --network resnet50 --size 64 --batch 4 \
        --threads 2 --steps 3 --warmup 1

The step mirrors the kit's `trainStep` (lib/train_step.ts): training-mode forward, loss
alpha * CE + (1 - alpha) * MSE(CAM, map) with alpha = 0.5, the CAM being the last convolutional
features dotted with the classifier row of the predicted class, min-max normalised per image; SGD
with momentum 0.9 and weight decay 1e-4, lr 0.01. Prints one JSON line: img/s, ms/step, threads.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--network", default="resnet50")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    a = p.parse_args()
    if a.network not in ("resnet18", "resnet34", "resnet50"):
        sys.exit(f"--network: only resnet18/34/50 have a torch reference (got {a.network})")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = getattr(torchvision.models, a.network)(weights=None, num_classes=2)
    body = torch.nn.Sequential(*list(net.children())[:-2])  # up to layer4
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.tensor([i % 2 for i in range(a.batch)])
    g = -(-a.size // 32)
    maps = torch.rand(a.batch, g, g)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        feats = body(x)  # [B, C, g, g]
        logits = net.fc(torch.flatten(F.adaptive_avg_pool2d(feats, 1), 1))
        ce = F.cross_entropy(logits, y)
        pred = logits.argmax(1)
        w = net.fc.weight[pred]  # [B, C]
        cam = torch.einsum("bchw,bc->bhw", feats, w)
        lo = cam.flatten(1).min(1)[0].view(-1, 1, 1)
        hi = cam.flatten(1).max(1)[0].view(-1, 1, 1)
        cam = (cam - lo) / (hi - lo + 1e-8)
        loss = 0.5 * ce + 0.5 * F.mse_loss(cam, maps)
        loss.backward()
        opt.step()

    net.train()
    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    print(json.dumps({
        "img_per_s": a.steps * a.batch / dt,
        "step_ms": 1000 * dt / a.steps,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
