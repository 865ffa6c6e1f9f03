"""The model registry: the CLI offers exactly its names, every entry is complete (its network,
its config fields, its tunable ranges), and adding a model is one entry plus its class: the
config, the batch-size check, tune's search and table, and --help all read the entry."""

import dataclasses
import typing

import numpy as np
import optuna
import pytest

from mnist_cli import networks
from mnist_cli.cli.tune import TrialTable
from mnist_cli.config import ModelName, TrainConfig, check_config
from mnist_cli.errors import MnistError
from mnist_cli.models import MODELS, ModelSpec, build_model, model_kwargs, models_taking
from mnist_cli.tune.space import suggest

CONFIG_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}


def test_the_cli_offers_exactly_the_registered_models():
    assert typing.get_args(ModelName) == tuple(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_every_entry_is_complete(name):
    spec = MODELS[name]
    assert isinstance(getattr(networks, spec.network), type)
    assert spec.summary
    assert set(spec.config_fields) <= CONFIG_FIELDS
    assert set(spec.tunable) <= CONFIG_FIELDS and all(spec.tunable.values())
    assert spec.min_batch >= 1 and (spec.min_batch == 1 or spec.min_batch_why)
    config = TrainConfig(model=name)
    model = build_model(name, num_classes=10, **config.model_kwargs())
    assert sum(p.numel() for p in model.parameters()) > 0


def test_a_config_gives_each_model_only_what_its_constructor_takes():
    config = TrainConfig(width=16)
    assert model_kwargs("cnn", config) == {"width": 16} == TrainConfig(width=16).model_kwargs()
    assert model_kwargs("mlp", config) == {}
    assert models_taking("width") == ["cnn"]


def test_the_smallest_batch_comes_from_the_entry():
    with pytest.raises(MnistError, match="at least 2 for the cnn .its batch norm needs two"):
        check_config(TrainConfig(model="cnn", batch_size=1))
    check_config(TrainConfig(model="mlp", batch_size=1))


def _trial_settings(config: TrainConfig) -> set[str]:
    study = optuna.create_study()
    trial = study.ask()
    suggest(trial, config)
    return set(trial.params)


def test_tune_searches_what_the_entry_names(monkeypatch):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert "width" in _trial_settings(TrainConfig(model="cnn"))
    assert "width" not in _trial_settings(TrainConfig(model="mlp"))
    # A new model's own setting is searched and shown without touching tune.
    spec = dataclasses.replace(MODELS["cnn"], tunable={"width": (8,), "thickness": (0.0, 0.5)})
    monkeypatch.setitem(MODELS, "cnn", spec)
    assert {"width", "thickness"} <= _trial_settings(TrainConfig(model="cnn"))
    table = TrialTable(output=None, base=TrainConfig(model="cnn"))
    assert table.params[-1] == "thickness" and "width" in table.params


def test_a_spec_needs_only_its_network():
    spec = ModelSpec(network="MLP", summary="a test")
    assert spec.config_fields == () and spec.min_batch == 1 and spec.tunable == {}


class _Linear(networks.nn.Sequential):
    """A new network, as a contributor would add one: a linear map of the pixels."""

    def __init__(self, num_classes: int = 10, width: int = 8):
        super().__init__(
            networks.nn.Flatten(),
            networks.nn.Linear(28 * 28, width),
            networks.nn.ReLU(),
            networks.nn.Linear(width, num_classes),
        )


def test_a_new_model_is_one_entry_plus_its_class(tiny_data, monkeypatch):
    """Registered here and nowhere else, it trains, is saved, reloads, and answers."""
    from mnist_cli.inference.loader import open_classifier
    from mnist_cli.train.loop import train

    monkeypatch.setattr(networks, "Linear", _Linear, raising=False)
    spec = ModelSpec(network="Linear", summary="a linear test net", config_fields=("width",))
    monkeypatch.setitem(MODELS, "linear", spec)
    config = TrainConfig(model="linear", epochs=1, width=12, batch_size=32, val_split=0)
    result = train(config, tiny_data, tiny_data.parent / "linear.pt")
    assert result.parameters == 28 * 28 * 12 + 12 + 12 * 10 + 10
    classifier = open_classifier(result.checkpoint)
    assert classifier.model_name == "linear"
    assert classifier.logits(np.zeros((3, 28, 28), np.uint8)).shape == (3, 10)
