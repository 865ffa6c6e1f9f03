"""What a checkpoint holds, read from the file alone: no dataset is loaded, nothing is run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cli.checkpoint import load_checkpoint


@dataclass(frozen=True)
class CheckpointInfo:
    checkpoint: Path
    size: int  # bytes on disk
    model: str
    parameters: int
    dataset: str
    classes: list[str]
    config: dict[str, Any]  # the training configuration, as stored
    history: list[dict[str, Any]]  # one dict per finished epoch
    torch_version: str
    created: str

    @property
    def test_accuracy(self) -> float | None:
        """After the last finished epoch; None if the file does not say."""
        return self._final("test_accuracy")

    @property
    def test_loss(self) -> float | None:
        return self._final("test_loss")

    def as_json(self) -> dict[str, Any]:
        """The document `mnist info --json` prints."""
        return {
            "checkpoint": str(self.checkpoint),
            "model": self.model,
            "parameters": self.parameters,
            "dataset": self.dataset,
            "classes": self.classes,
            "epochs": len(self.history),
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "config": self.config,
            "history": self.history,
            "torch_version": self.torch_version,
            "created": self.created,
            "size": self.size,
        }

    def _final(self, key: str) -> float | None:
        value = self.history[-1].get(key) if self.history else None
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if is_number else None


def checkpoint_info(path: Path) -> CheckpointInfo:
    """Load and validate `path` (as evaluate does) and describe it."""
    loaded = load_checkpoint(path)
    return CheckpointInfo(
        checkpoint=Path(path),
        size=Path(path).stat().st_size,
        model=loaded.model_name,
        parameters=sum(p.numel() for p in loaded.model.parameters()),
        dataset=loaded.dataset,
        classes=loaded.class_names,
        config=loaded.config,
        history=[row for row in loaded.history if isinstance(row, dict)],
        torch_version=loaded.torch_version,
        created=loaded.created,
    )
