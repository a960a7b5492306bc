"""Replay a Lava learning run with the NumPy oracle of one window, sort and race, in seconds.

A ``sdt-neuro train --backend lava`` run takes minutes to an hour per pass; the oracle of one sample
window (:func:`sdt_neuro.backends.lava.learning.reference_window`, equal to Lava within 1e-12 in the
tests) takes microseconds. This script runs that oracle through the same shared training loop as
the Lava learner (same images, order, initial weights, rate schedule and homeostasis resets, read
from the run's ``config.json``), once with the sorting winner-take-all and once with the run's race
(``--race-steps``), and reports the test DA after every pass and how many winners each window had.

Example (BENCHMARKS.md, issue 21)::

    python benchmarks/lava_race_replay.py ~/runs/race-fine-10k-s1 --data-root /work/shared/datasets

Writes ``benchmarks/results/lava_learning/race-replay/<run>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sdt_neuro.backends.lava.learning import local_wta, reference_window
from sdt_neuro.data import load_dataset
from sdt_neuro.presets import config_from_file
from sdt_neuro.training.homeostasis import HomeostasisState
from sdt_neuro.training.loop import train

OUT = Path(__file__).resolve().parent / "results" / "lava_learning" / "race-replay"


class OracleLearner:
    """The Lava learner's interface (batches of one sample, one pass per ``epoch_samples``) on the
    NumPy oracle; ``race``: winners by the run's race instead of the sort."""

    def __init__(self, config: Any, epoch_samples: int, race: bool) -> None:
        self.config, self.rule, self.device = config, config.wta_rule, torch.device("cpu")
        self.steps = int(config.extra.get("steps", 8))
        torch.manual_seed(config.seed)  # the Lava learner's initial weights
        self.model = config.build_model()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lrs[0])
        self.state = HomeostasisState(self.rule)
        self.epoch_samples, self.seen = epoch_samples, 0
        self.wta = local_wta(config) if race else None
        layer = self.model.layers[0]
        self.w = layer.weight.detach().double().numpy().copy()
        self.b = layer.bias.detach().double().numpy().copy()
        self.offsets = self.average = np.zeros(self.rule.n_outputs)
        self.winners: Counter[int] = Counter()

    def train_step(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.seen % self.epoch_samples == 0:  # a pass starts from the loop's (reset) homeostasis
            self.offsets = self.state.offsets.double().numpy().copy()
            self.average = self.state.average.double().numpy().copy()
        r = reference_window(self.w, self.b, x.reshape(-1).double().numpy(), self.offsets, self.average, self.rule,
                             self.steps, float(self.optimizer.param_groups[0]["lr"]), self.wta)
        self.w, self.b, self.offsets, self.average = r.weights, r.bias, r.offsets, r.average
        self.winners[int(r.target.sum())] += 1
        self.seen += 1
        if self.seen % self.epoch_samples == 0:  # a pass ends: weights and state back to the loop
            with torch.no_grad():
                self.model.layers[0].weight.copy_(torch.from_numpy(self.w))
                self.model.layers[0].bias.copy_(torch.from_numpy(self.b))
            self.state.offsets = torch.from_numpy(self.offsets).float()
            self.state.average = torch.from_numpy(self.average).float()
        return torch.tensor(float(np.mean((r.rate - r.target) ** 2)))

    @torch.no_grad()
    def activity(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        return self.model(x)


def replay(run: Path, data_root: str | None, race: bool, seed: int | None = None) -> dict[str, Any]:
    config = config_from_file(str(run / "config.json"))
    if seed is not None:  # the same run with another seed: other initial weights and sample order
        config = config.replace(seed=seed)
    if race and not config.extra.get("race_steps"):
        raise SystemExit(f"{run} was not a --race-steps run")
    data = load_dataset(config.dataset, data_root)
    n = min(len(data.train), config.max_train_samples or len(data.train))
    learners: list[OracleLearner] = []

    def factory(cfg: Any, device: torch.device) -> OracleLearner:
        learners.append(OracleLearner(cfg, n, race))
        return learners[-1]

    t0 = time.perf_counter()
    result = train(config, out_dir=f"/tmp/race-replay-{os.getpid()}-{race}", dataset=data, progress=False,
                   plots=False, learner_factory=factory)
    return {"test_da_average": [m.get("test_da_average") for m in result.metrics],
            "winners_per_window": dict(sorted(learners[-1].winners.items())),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a Lava learning run's folder (its config.json)")
    parser.add_argument("--seeds", type=int, nargs="*", help="replay the run with these seeds instead of its own")
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    name = args.run.expanduser().resolve().name
    if not args.seeds:
        record = {"run": str(args.run), "sort": replay(args.run, args.data_root, False),
                  "race": replay(args.run, args.data_root, True)}
        path = OUT / f"{name}.json"
    else:
        record = {"run": str(args.run), "seeds": {}}
        path = OUT / f"{name}-seeds.json"
        for seed in args.seeds:
            record["seeds"][seed] = {"sort": replay(args.run, args.data_root, False, seed),
                                     "race": replay(args.run, args.data_root, True, seed)}
            print(seed, {k: v["test_da_average"] for k, v in record["seeds"][seed].items()}, flush=True)
            path.write_text(json.dumps(record, indent=1))
        final = np.array([[v["race"]["test_da_average"][-1] - v["sort"]["test_da_average"][-1]]
                          for v in record["seeds"].values()])[:, 0]
        record["race_minus_sort_final"] = {"mean": float(final.mean()), "std": float(final.std(ddof=1))
                                           if len(final) > 1 else 0.0, "min": float(final.min())}
    path.write_text(json.dumps(record, indent=1))
    print(json.dumps({k: v["test_da_average"] if isinstance(v, dict) and "test_da_average" in v else v
                      for k, v in record.items() if k != "seeds"}))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
