"""Learn a 784-100 layer *inside* Lava (no labels, one pass, sequential mode), then score it.

    OPENBLAS_NUM_THREADS=1 python examples/lava_learning.py --samples 2000      # about 1 minute
    OPENBLAS_NUM_THREADS=1 python examples/lava_learning.py --samples 20000     # the docs' figure
    OPENBLAS_NUM_THREADS=1 python examples/lava_learning.py --fixed-point       # all in Loihi 2 integers

Steps: ``sdt-neuro train --backend lava --preset lava-100``: every sample is presented for T
steps to Lava integrate-and-fire neurons whose plastic input weights (``LearningDense``, Loihi
three-factor rule) learn from the third factor (k-WTA target - spike rate) that the output
population builds with homeostasis; the weights come back in one message and are written as a
reference checkpoint. Then the same checkpoint is scored by the ANN and, as a spiking network,
by Lava inference (``sdt-neuro evaluate --backend lava``). With ``--fixed-point`` both the
learning (Lava's bit-approximate engine, 8-bit weights) and the inference run in integers;
``--race-steps R`` lets the output population choose its winners by lateral inhibition.
"""

from __future__ import annotations

import argparse

from sdt_neuro.cli import main


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="training images (one pass)")
    parser.add_argument("--steps", type=int, default=8, help="time steps T per training sample")
    parser.add_argument("--eval-samples", type=int, default=2000, help="test images for the Lava evaluation")
    parser.add_argument("--data-root", help="folder with MNIST/raw (or SDT_DATA_ROOT)")
    parser.add_argument("--fixed-point", action="store_true", help="learn and infer in Loihi 2 integers")
    parser.add_argument("--race-steps", type=int, help="local winner-take-all: a race of R steps")
    parser.add_argument("--out", default="runs/lava-learning")
    args = parser.parse_args(argv)
    data = ["--data-root", args.data_root] if args.data_root else []
    fixed = ["--fixed-point"] if args.fixed_point else []
    race = ["--race-steps", str(args.race_steps)] if args.race_steps else []
    code = main(["train", "--backend", "lava", "--preset", "lava-100", "--samples", str(args.samples),
                 "--steps", str(args.steps), "--out", args.out, "--overwrite", *fixed, *race, *data])
    if code:
        return code
    for backend, options in (("ann", []), ("lava", ["--steps", "32", *fixed])):
        code = main(["evaluate", args.out, "--backend", backend, "--samples", str(args.eval_samples),
                     *options, *data])
        if code:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
