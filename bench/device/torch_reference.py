"""PyTorch reference for bench/device/run.sh: the kit's CYBORG training step in PyTorch, same GPU.

ResNet50 (torchvision, random init, 2 classes), loss = 0.5·CE + 0.5·MSE(CAM, map) with the CAM of
the predicted class from layer4 (min-max normalised per image), SGD with momentum 0.9 and weight
decay 1e-4: the step bench/train_throughput.ts times in tfjs. Prints one line per setting:
`torch <setting> <size>px batch <b>: <img/s> img/s, <ms> ms/step`. Settings: fp32 (TF32 off, the
kit's arithmetic) and torch's default (TF32 convolutions).

    python3 bench/device/torch_reference.py [--size 224] [--batch 32] [--steps 10]
"""

import argparse
import time

import torch
import torch.nn.functional as F
import torchvision


def cyborg_step(model, opt, x, y, maps):
    feats = {}
    handle = model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__("f", o))
    logits = model(x)
    handle.remove()
    f = feats["f"]  # [b, 2048, g, g]
    w = model.fc.weight[logits.argmax(1)]  # [b, 2048]
    cam = torch.einsum("bchw,bc->bhw", f, w)
    lo = cam.flatten(1).min(1)[0][:, None, None]
    hi = cam.flatten(1).max(1)[0][:, None, None]
    cam = (cam - lo) / (hi - lo + 1e-8)
    loss = 0.5 * F.cross_entropy(logits, y) + 0.5 * F.mse_loss(cam, maps)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def measure(size, batch, steps, tf32):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.manual_seed(0)
    dev = "cuda"
    model = torchvision.models.resnet50(num_classes=2).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.arange(batch, device=dev) % 2
    g = (size + 31) // 32
    maps = torch.rand(batch, g, g, device=dev)
    for _ in range(3):
        cyborg_step(model, opt, x, y, maps)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        cyborg_step(model, opt, x, y, maps)
    torch.cuda.synchronize()
    s = time.perf_counter() - t0
    return steps * batch / s, 1000 * s / steps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    for name, tf32 in (("fp32", False), ("default-tf32", True)):
        ips, ms = measure(a.size, a.batch, a.steps, tf32)
        print(f"torch {name} {a.size}px batch {a.batch}: {ips:.1f} img/s, {ms:.1f} ms/step")


if __name__ == "__main__":
    main()
