"""The JSON documents more than one front end gives: a row of `mnist predict --json` and what
`mnist info --json` says of a checkpoint. The CLI prints them; `mnist serve` answers with them,
the second also of a checkpoint read without torch (serve/header.py)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mnist_cli.checkpoint.format import EpochRecord
    from mnist_cli.config import TrainConfig
    from mnist_cli.predict.pipeline import Prediction


class Described(Protocol):
    """What `info --json` reads of a checkpoint: a loaded `Checkpoint`, or what serve reads of
    one without torch (`history` and `parameters` None where the file does not say)."""

    model_name: str
    dataset: str
    class_names: list[str]
    temperature: float
    config: TrainConfig | None
    history: list[EpochRecord] | None
    parameters: int | None
    torch_version: str
    created: str

    @property
    def final(self) -> EpochRecord | None: ...


def prediction_row(prediction: Prediction, checkpoints: list[Path]) -> dict[str, Any]:
    """One row of the list `mnist predict --json` prints."""
    if prediction.error:
        return {"file": prediction.file, "error": prediction.error}
    return {
        "file": prediction.file,
        "checkpoints": [str(path) for path in checkpoints],
        "prediction": prediction.best.prediction,
        "label": prediction.best.label,
        "probability": prediction.best.probability,
        "top_k": [asdict(guess) for guess in prediction.top_k],
    }


def checkpoint_info(path: Path, checkpoint: Described, size: int) -> dict[str, Any]:
    """The document `mnist info --json` prints."""
    final, history = checkpoint.final, checkpoint.history
    return {
        "checkpoint": str(path),
        "model": checkpoint.model_name,
        "parameters": checkpoint.parameters,
        "dataset": checkpoint.dataset,
        "classes": checkpoint.class_names,
        "epochs": len(history) if history is not None else None,
        "test_accuracy": final.test_accuracy if final else None,
        "test_loss": final.test_loss if final else None,
        "config": asdict(checkpoint.config) if checkpoint.config else {},
        "history": [asdict(row) for row in history or []],
        "temperature": checkpoint.temperature,
        "torch_version": checkpoint.torch_version,
        "created": checkpoint.created,
        "size": size,
    }
