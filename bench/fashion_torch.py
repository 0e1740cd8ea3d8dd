#!/usr/bin/python3
"""PyTorch side of `scripts/bench fashion`: the models of examples/mlp_fashion and
examples/lenet_fashion, trained with the same batch size, optimizer and data order, timed
per epoch. Prints one JSON line per epoch.

    /usr/bin/python3 bench/fashion_torch.py --model lenet --epochs 1 --threads 2
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn

from shuffle_order import epoch_permutation


def read_idx(path):
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    with (gzip.open if compressed else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(directory, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise SystemExit(f"{stem}[.gz] not found in {directory}")


def load(directory, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(find(directory, f"{prefix}-images-idx3-ubyte")).astype(np.float32) / 255.0
    labels = read_idx(find(directory, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    images = (images - 0.2860) / 0.3530  # Fashion-MNIST's mean and standard deviation
    return torch.from_numpy(images).unsqueeze(1).contiguous(), torch.from_numpy(labels)


def make_model(name, activation, batch_norm):
    act = nn.ReLU() if activation == "relu" else nn.Sigmoid()
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), act, nn.Linear(300, 10))
    bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), bn(20), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), bn(50), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["mlp", "lenet"], required=True)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--activation", choices=["relu", "sigmoid"], default="relu")
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load(args.data, "train")
    test_x, test_y = load(args.data, "test")
    model = make_model(args.model, args.activation, args.batch_norm)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = nn.CrossEntropyLoss()
    batches_per_epoch = (len(train_x) + args.batch_size - 1) // args.batch_size
    # recur's CosineWithWarmup with no warm-up: cosine decay to 0 over all iterations.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * batches_per_epoch)

    for epoch in range(args.epochs):
        order = torch.from_numpy(epoch_permutation(len(train_x), args.seed, epoch).astype(np.int64))
        model.train()
        start = time.perf_counter()
        total_loss, batches = 0.0, 0
        for begin in range(0, len(order), args.batch_size):
            index = order[begin:begin + args.batch_size]
            x, y = train_x.index_select(0, index), train_y.index_select(0, index)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item()
            batches += 1
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(test_x[i:i + 1000]).argmax(1) == test_y[i:i + 1000]).sum())
                          for i in range(0, len(test_x), 1000))
        print(json.dumps({"framework": "pytorch", "model": args.model, "epoch": epoch + 1,
                          "epoch_seconds": round(seconds, 3), "train_loss": total_loss / batches,
                          "test_accuracy": correct / len(test_x), "threads": args.threads}), flush=True)


if __name__ == "__main__":
    main()
