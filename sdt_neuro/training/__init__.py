"""Trainers of the reference networks: one shared loop, one learner per algorithm."""

from sdt_neuro.training.config import TrainConfig
from sdt_neuro.training.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
