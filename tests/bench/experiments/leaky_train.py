"""A training function that leaks: each trial keeps 256 KiB (numpy) in a
module-level list, as a cache or a framework can. It returns the
executor's resident memory, so the benchmark can follow it."""
import numpy as np

_kept = []


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def train(x, reporter=None):
    _kept.append(np.full(32768, x))  # 256 KiB, never freed
    scratch = np.random.default_rng(0).random(200_000)  # allocated and freed
    return {"value": float(scratch.mean() * x), "rss_mib": rss_mib()}
