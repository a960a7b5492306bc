"""The rule in your own training loop: a PyTorch Lightning module trained with DDP on 2 CPU processes.

The network is an ordinary ``nn.Linear`` output layer with a hard-sigmoid; ``SelfDefinedTarget``
(a ``torch.nn.Module``) builds the k-WTA target from the output and keeps the homeostasis offsets
as buffers, all-reduced across the DDP ranks, so both processes hold the same offsets. No labels
are used for training; direct association scores the result at the end.

    python examples/lightning_ddp.py                        # MNIST from SDT_DATA_ROOT (or the bundled sample)
    python examples/lightning_ddp.py --samples 2048 --epochs 1 --out runs/lightning

Needs ``pip install lightning``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=None, help="training images (default all)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--out", default="runs/lightning")
    return parser.parse_args()


def main() -> None:
    import lightning as L

    from sdt_neuro.data import load_dataset
    from sdt_neuro.evaluate import direct_association
    from sdt_neuro.rule import WTARule
    from sdt_neuro.training.homeostasis import SelfDefinedTarget

    args = parse_args()
    rule = WTARule(n_outputs=400, k=4, gamma=0.4 * 4, dropout=0.2)

    class WTANet(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(784, rule.n_outputs)
            nn.init.xavier_uniform_(self.layer.weight, gain=0.5)
            nn.init.zeros_(self.layer.bias)
            self.target = SelfDefinedTarget(rule)  # offsets are buffers: synced across ranks

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(x.flatten(1)).clamp(0, 1)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
            x, _labels = batch  # labels are not used
            y = self(x)
            mask = (torch.rand_like(y) >= rule.dropout).float()
            y = y * mask
            d = self.target(y, mask)  # k-hot target; homeostasis all-reduced over the ranks
            return nn.functional.mse_loss(y, d)

        def on_fit_start(self) -> None:
            torch.manual_seed(1 + self.global_rank)  # each rank its own dropout masks (the weights are set already)

        def on_train_epoch_start(self) -> None:
            self.target.reset()  # as published: H starts from zero every epoch

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=6.4)

    data = load_dataset("mnist")
    train_x, train_y = data.train.x, data.train.y
    if args.samples:
        train_x, train_y = train_x[: args.samples], train_y[: args.samples]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_x, train_y), batch_size=32,
                                         shuffle=True)
    torch.manual_seed(0)
    model = WTANet()
    trainer = L.Trainer(strategy="ddp", accelerator="cpu", devices=args.devices, max_epochs=args.epochs,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(model, loader)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.target.state_dict(), out / f"offsets_rank{trainer.global_rank}.pt")
    if trainer.global_rank == 0:
        model.eval()
        with torch.no_grad():
            train_act, test_act = model(train_x).numpy(), model(data.test.x).numpy()
        da = direct_association(train_act, train_y.numpy(), test_act, data.test.y.numpy(), 10)
        print(f"DA-average {da.average:.4f} on {len(data.test)} test images after {args.epochs} epoch(s) "
              f"on {args.devices} processes; offsets saved per rank in {out}")


if __name__ == "__main__":
    main()
