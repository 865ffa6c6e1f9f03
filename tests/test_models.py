"""The model registry: the CLI offers exactly its names, every entry is complete (its network,
its config fields, its tunable ranges), and adding a model is one entry plus its class: the
config, the batch-size check, tune's search and table, and --help all read the entry."""

import dataclasses
import typing

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
