#!/usr/bin/python3
"""Fast PyTorch proxy of the kit's training, used only to size presets and check the embedded
benchmark's difficulty quickly (the kit's own runs give the reported numbers).

Same plain CNN as lib/backbones/small_cnn.ts (conv3x3-BN-ReLU blocks, 2x2 max pools, GAP, fc),
same CYBORG loss (CAM of the predicted class from the last conv before its BN, min-max normalised
with a 1e-8 guard, MSE to the map resized to the CAM grid), SGD momentum 0.9, weight decay 1e-6,
StepLR. Reads the paper's layout (csvs/original.csv, heatmaps/, csvs/test_sets/*.csv).

  /usr/bin/python3 tools/calibration/torch_proxy.py ROOT --size 32 --widths 8,16,32 --epochs 12 \
      --lr 0.05 --alpha 1 [--csv csvs/original.csv] [--maps heatmaps] [--seed 0]
"""
import argparse
import csv
import glob
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import roc_auc_score

p = argparse.ArgumentParser()
p.add_argument("root")
p.add_argument("--size", type=int, default=32)
p.add_argument("--widths", default="8,16,32")
p.add_argument("--epochs", type=int, default=12)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--step", type=int, default=8)
p.add_argument("--alpha", type=float, default=1.0)
p.add_argument("--csv", default="csvs/original.csv")
p.add_argument("--maps", default="heatmaps")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--batch", type=int, default=20)
p.add_argument("--by-family", action="store_true",
               help="after training, print AUC per test set and per artifact family (fakes whose "
                    "manifest lists the family, against the pooled real test sets)")
a = p.parse_args()
torch.manual_seed(a.seed)
np.random.seed(a.seed)
torch.set_num_threads(2)
widths = [int(w) for w in a.widths.split(",")]
grid = a.size // 2 ** (len(widths) - 1)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def rows(path):
    with open(os.path.join(a.root, path)) as f:
        return [r for r in csv.reader(f) if r]


def load(rs, with_maps=False):
    xs, ys, ms = [], [], []
    for split, label, rel in rs:
        im = Image.open(os.path.join(a.root, rel.lstrip("/"))).convert("RGB").resize((a.size, a.size), Image.BILINEAR)
        xs.append((np.asarray(im, np.float32) / 255 - MEAN) / STD)
        ys.append(1 if label == "Synthetic" else 0)
        if with_maps:
            m = Image.open(os.path.join(a.root, a.maps, os.path.basename(rel))).convert("L").resize((grid, grid), Image.BILINEAR)
            m = np.asarray(m, np.float32) / 255
            ms.append((m - m.min()) / (m.max() - m.min() + 1e-8))
    x = torch.tensor(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(ys), (torch.tensor(np.stack(ms)) if with_maps else None)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        c = 3
        for w in widths:
            self.convs.append(nn.Conv2d(c, w, 3, padding=1, bias=False))
            self.bns.append(nn.BatchNorm2d(w))
            c = w
        self.fc = nn.Linear(c, 2)

    def forward(self, x):
        h = x
        for i, (cv, bn) in enumerate(zip(self.convs, self.bns)):
            c = cv(h)
            tap = c
            h = F.relu(bn(c))
            if i < len(self.convs) - 1:
                h = F.max_pool2d(h, 2)
        return self.fc(h.mean((2, 3))), tap


t0 = time.time()
all_rows = rows(a.csv)
train_rows = [r for r in all_rows if r[0] == "train"]
val_rows = [r for r in all_rows if r[0] == "test"]
xtr, ytr, mtr = load(train_rows, with_maps=a.alpha < 1)
xva, yva, _ = load(val_rows)
tests = {os.path.basename(f)[:-4]: load(rows(os.path.relpath(f, a.root))) for f in sorted(glob.glob(os.path.join(a.root, "csvs/test_sets/*.csv")))}
print(f"loaded {len(ytr)} train, {len(yva)} val, {len(tests)} test sets in {time.time() - t0:.1f}s", flush=True)

net = Net()
opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=1e-6)
sched = torch.optim.lr_scheduler.StepLR(opt, a.step, 0.1)


def scores(x):
    net.eval()
    with torch.no_grad():
        out = torch.cat([net(x[i:i + 256])[0] for i in range(0, len(x), 256)])
    return torch.sigmoid(out[:, 1]).numpy(), out.argmax(1).numpy()


for ep in range(a.epochs):
    net.train()
    perm = torch.randperm(len(ytr))
    correct = 0
    t1 = time.time()
    for i in range(0, len(perm), a.batch):
        idx = perm[i:i + a.batch]
        logits, feats = net(xtr[idx])
        loss = F.cross_entropy(logits, ytr[idx])
        if a.alpha < 1:
            cls = logits.argmax(1)
            cam = (feats * net.fc.weight[cls][:, :, None, None]).sum(1)
            lo = cam.flatten(1).min(1)[0][:, None, None]
            hi = cam.flatten(1).max(1)[0][:, None, None]
            cam = (cam - lo) / (hi - lo + 1e-8)
            loss = a.alpha * loss + (1 - a.alpha) * F.mse_loss(cam, mtr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        correct += (logits.argmax(1) == ytr[idx]).sum().item()
    sched.step()
    s, pred = scores(xva)
    reals = np.concatenate([scores(v[0])[0] for k, v in tests.items() if k.startswith("real")])
    aucs = {}
    for k, v in tests.items():
        if k.startswith("real"):
            continue
        fs = scores(v[0])[0]
        aucs[k] = roc_auc_score(np.r_[np.zeros(len(reals)), np.ones(len(fs))], np.r_[reals, fs])
    unseen = np.mean([v for k, v in aucs.items() if not k.startswith("seen")])
    print(f"ep {ep + 1:2d} train_acc {correct / len(ytr):.3f} val_acc {(pred == yva.numpy()).mean():.3f} "
          f"val_auc {roc_auc_score(yva.numpy(), s):.3f} seen {aucs.get('seen_generators', float('nan')):.3f} "
          f"unseen {unseen:.3f} ({time.time() - t1:.1f}s)", flush=True)


if a.by_family:
    with open(os.path.join(a.root, "manifest.csv")) as f:
        manifest = {r["base"]: r for r in csv.DictReader(f)}
    real_sets = [k for k in tests if k.startswith("real")]
    reals = np.concatenate([scores(tests[k][0])[0] for k in real_sets])
    zeros = np.zeros(len(reals))
    for k in sorted(tests):
        if k in real_sets:
            continue
        fs = scores(tests[k][0])[0]
        print(f"set {k:18s} auc {roc_auc_score(np.r_[zeros, np.ones(len(fs))], np.r_[reals, fs]):.3f}")
    fam_scores = {}
    for k in sorted(tests):
        if k in real_sets:
            continue
        fs = scores(tests[k][0])[0]
        for (_, _, rel), sc in zip(rows(f"csvs/test_sets/{k}.csv"), fs):
            base = os.path.basename(rel)[:-4]
            for fam in manifest[base]["artifacts"].split(";"):
                fam_scores.setdefault(fam, []).append(sc)
    for fam, fs in sorted(fam_scores.items()):
        fs = np.array(fs)
        auc = roc_auc_score(np.r_[zeros, np.ones(len(fs))], np.r_[reals, fs])
        print(f"family {fam:18s} n {len(fs):4d} auc {auc:.3f}")
    for k in real_sets:
        rs = scores(tests[k][0])[0]
        print(f"real {k:18s} mean score {rs.mean():.3f} fake-rate {(rs > 0.5).mean():.3f}")
