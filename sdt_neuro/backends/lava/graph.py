"""The processes of one network built for Lava and the run configuration naming their models.

Both builders return it: :func:`~sdt_neuro.backends.lava.build.build_graph` (our batched processes)
and :func:`~sdt_neuro.backends.lava.stock.build_stock_graph` (Lava's stock ``Dense`` and ``LIFReset``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdt_neuro.backends.lava.fixed_point import FixedPointNetwork


@dataclass
class LavaGraph:
    """The processes of one compiled-to-be network and the run configuration naming their models."""

    input: Any
    synapses: list[Any]
    neurons: list[Any]
    counter: Any
    run_cfg: Any
    steps: int
    batch: int
    encoding: str
    fixed_point: bool
    neuron: str
    sizes: list[int]
    quantized: FixedPointNetwork | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def delay(self) -> int:
        """Steps from an input step to the output spikes it causes (one per ``BatchDense``)."""
        return len(self.synapses)
