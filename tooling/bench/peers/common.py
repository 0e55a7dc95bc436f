# Shared helpers of the PyTorch peers: thread count from THREADS (match ours), median timing,
# and one JSON line on stdout.
import json
import os
import statistics
import sys
import time

import torch

THREADS = int(os.environ.get("THREADS", "1"))
torch.set_num_threads(THREADS)


def median_seconds(fn, reps, warmup=1):
    """Median wall seconds of `fn()` over `reps` calls after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def micros_per_call(fn, calls, warmup=100):
    """Mean microseconds of one call of `fn` over a timed loop of `calls` calls."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) * 1e6 / calls


def emit(result):
    result["peer"] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def arg(name, default):
    """--name VALUE from argv as an int, else the default."""
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default
