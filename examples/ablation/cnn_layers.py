"""Layer ablation of a small CNN on Fashion-MNIST (Debian's
dataset-fashion-mnist; the data loading of examples/fashion_mnist). Every
layer has a name, so a trial can leave any out by name: the ones that keep
their input's shape (a convolution from 32 to 32 channels, the batch norms,
the dropout) become nn.Identity. FMNIST_SUBSET and FMNIST_EPOCHS size the
trials as there.

Runs by hand as well:  python3 -c "import cnn_layers; print(cnn_layers.train(0.003))"
"""
from collections import OrderedDict

import torch
from torch import nn

import train as fmnist  # examples/fashion_mnist/train.py
from maggy import ablation


def build():
    features = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 16, 3, padding=1)), ("bn1", nn.BatchNorm2d(16)),
        ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(16, 32, 3, padding=1)), ("bn2", nn.BatchNorm2d(32)),
        ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(32, 32, 3, padding=1)), ("bn3", nn.BatchNorm2d(32)),
        ("relu3", nn.ReLU()),
        ("pool2", nn.AdaptiveAvgPool2d(4)),
    ]))
    head = nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()), ("dropout", nn.Dropout(0.2)),
        ("fc", nn.Linear(32 * 16, 10)),
    ]))
    return nn.Sequential(OrderedDict([("features", features), ("head", head)]))


def train(learning_rate, ablate=None, seed=0, reporter=None):
    torch.manual_seed(seed)
    (x, y), (tx, ty) = fmnist.data()
    model = ablation.skip_layers(build(), ablate)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    acc = 0.0
    for epoch in range(fmnist.EPOCHS):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), fmnist.BATCH):
            idx = order[i:i + fmnist.BATCH]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        acc = fmnist.accuracy(model, tx, ty)
        if reporter is not None:
            reporter.broadcast(acc, step=epoch)
    print(f"left out {ablation.left_out(ablate, 'layers')}: accuracy {acc:.4f}")
    return {"accuracy": acc}
