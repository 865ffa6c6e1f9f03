"""A checkpoint run with torch: `predict_logits`, the one inference function (the training
loop's test and validation passes, evaluate and predict), and `TorchClassifier`, a loaded
checkpoint behind the Classifier interface. Importing this module imports torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from mnist_cli.inference.card import ModelCard, card_of

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint


@torch.inference_mode()
def predict_logits(model: nn.Module, inputs: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Logits for normalised inputs [N, 1, 28, 28], computed in eval mode in batches."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [model(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
        )
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class TorchClassifier(ModelCard):
    """A loaded checkpoint, run with torch on the device it was loaded to."""

    checkpoint: Checkpoint | None = field(default=None, repr=False)
    runtime: str = "torch"

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> TorchClassifier:
        return cls(**card_of(checkpoint), checkpoint=checkpoint)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        from mnist_cli.data.store import normalise

        device = next(self.checkpoint.model.parameters()).device
        inputs = normalise(torch.from_numpy(pixels), self.mean, self.std, device)
        return predict_logits(self.checkpoint.model, inputs).float().cpu().numpy()
