"""A stand-in for a real training loop: pure Python, no packages needed.

The "accuracy" climbs towards a ceiling that depends on the hyperparameters
(best near learning_rate 0.03, 3 layers, relu, batch 32), with a little noise.
The same function runs by hand, without maggy:

    python3 -c "import train; print(train.train(0.03, 3, 'relu', 32))"
"""
import math
import random
import time

EPOCHS = 12
SECONDS_PER_EPOCH = 0.12


def ceiling(learning_rate, layers, activation, batch_size):
    lr_fit = math.exp(-(math.log10(learning_rate) + 1.5) ** 2 / 0.8)
    depth_fit = 1.0 - 0.06 * abs(layers - 3)
    act_fit = {"relu": 1.0, "tanh": 0.95, "sigmoid": 0.85}[activation]
    batch_fit = 1.0 - 0.03 * abs(math.log2(batch_size) - 5)
    return 0.98 * lr_fit * depth_fit * act_fit * batch_fit


def train(learning_rate, layers, activation, batch_size, reporter=None):
    rng = random.Random(f"{learning_rate}{layers}{activation}{batch_size}")
    top = ceiling(learning_rate, layers, activation, batch_size)
    accuracy = 0.0
    for epoch in range(EPOCHS):
        time.sleep(SECONDS_PER_EPOCH)
        progress = 1.0 - math.exp(-(epoch + 1) / 3.0)
        accuracy = max(0.0, top * progress + rng.gauss(0, 0.005))
        if reporter is not None:
            reporter.broadcast(accuracy, step=epoch)
    print(f"done: lr={learning_rate:.4g} layers={layers} -> {accuracy:.4f}")
    return {"accuracy": accuracy, "epochs": EPOCHS}
