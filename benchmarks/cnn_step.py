"""Time one batch-16 training step of the CNN preset (fused Adam; memory policy on or off).

python benchmarks/cnn_step.py --threads 1 [--no-keep-memory] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sdt_neuro.memory import keep_freed_memory
from sdt_neuro.presets import preset_config
from sdt_neuro.training.loop import make_learner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--preset", default="cnn-mnist")
    parser.add_argument("--no-keep-memory", action="store_true")
    args = parser.parse_args()
    kept = False if args.no_keep_memory else keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    learner = make_learner(preset_config(args.preset, device="cpu"), torch.device("cpu"))
    x = torch.rand(16, 1, 28, 28)
    for _ in range(5):
        learner.train_step(x)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        learner.train_step(x)
    ms = (time.perf_counter() - t0) / args.steps * 1000
    print(json.dumps({"preset": args.preset, "threads": args.threads, "keep_freed_memory": kept,
                      "step_ms": round(ms, 1)}))


if __name__ == "__main__":
    main()
