"""A small CNN on Fashion-MNIST with PyTorch, as in the Maggy paper.

The data are the IDX files of Debian's dataset-fashion-mnist package. They are
loaded once per executor (the executor keeps its interpreter between trials),
cut to a subset so that a trial takes seconds on a CPU:

    FMNIST_SUBSET  training images used (default 4000; the test set gets a quarter)
    FMNIST_EPOCHS  epochs per trial (default 4)
    FMNIST_DIR     where the IDX files are (default /usr/share/datasets/fashion-mnist)

Runs by hand as well:  python3 -c "import train; print(train.train(3, 2, 0.2, 0.01))"
"""
import gzip
import os
import pathlib

import numpy as np
import torch
from torch import nn

DATA_DIR = pathlib.Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
SUBSET = int(os.environ.get("FMNIST_SUBSET", "4000"))
EPOCHS = int(os.environ.get("FMNIST_EPOCHS", "4"))
BATCH = 64

torch.set_num_threads(1)  # one core per executor: executors run side by side
# The executor's GPU when it has one (maggy-engine gives each local executor
# its own: CUDA_VISIBLE_DEVICES), else the CPU.
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def read_idx(name):
    with gzip.open(DATA_DIR / name) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split, count):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(f"{prefix}-images-idx3-ubyte.gz")[:count]
    labels = read_idx(f"{prefix}-labels-idx1-ubyte.gz")[:count]
    x = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 255.0
    y = torch.tensor(labels, dtype=torch.long)
    return ((x - 0.2860) / 0.3530).to(DEVICE), y.to(DEVICE)


_data = {}


def data():
    if not _data:
        _data["train"] = load("train", SUBSET)
        _data["test"] = load("test", max(SUBSET // 4, 100))
    return _data["train"], _data["test"]


class Net(nn.Module):
    """Three convolutions and a fully connected layer."""

    def __init__(self, kernel, pool, dropout):
        super().__init__()
        pad = kernel // 2
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel, padding=pad), nn.ReLU(),
            nn.MaxPool2d(pool, ceil_mode=True),
            nn.Conv2d(16, 32, kernel, padding=pad), nn.ReLU(),
            nn.Conv2d(32, 32, kernel, padding=pad), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(32 * 16, 10))

    def forward(self, x):
        return self.head(self.features(x))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(kernel, pool, dropout, learning_rate, reporter=None):
    torch.manual_seed(0)
    (x, y), (tx, ty) = data()
    model = Net(kernel, pool, dropout).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    acc = 0.0
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x), device=DEVICE)
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        acc = accuracy(model, tx, ty)
        if reporter is not None:
            reporter.broadcast(acc, step=epoch)
        print(f"epoch {epoch}: loss {loss.item():.3f} accuracy {acc:.4f}")
    return {"accuracy": acc, "loss": loss.item()}
