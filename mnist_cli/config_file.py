"""A run's settings as a TOML file: `mnist train --config FILE` reads one, `mnist info --config`
and `mnist tune` write one. The keys are train's option names as typed, without the dashes in
front (`batch-size`, `lr`, `val-split`); an unknown key or a value of the wrong type is refused,
naming the key. Pure Python: no torch."""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

from mnist_cli.config import TrainConfig
from mnist_cli.errors import MnistError
from mnist_cli.files import Unreadable, read_bounded

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; no more than this is read


def key_of(field_name: str) -> str:
    """The TOML key of a TrainConfig field: its option's name (`batch_size` -> `batch-size`)."""
    return field_name.replace("_", "-")


def _kinds() -> dict[str, tuple[type, tuple[str, ...]]]:
    """Each field's key -> (its value's type, the choices where it is a Literal)."""
    hints = typing.get_type_hints(TrainConfig)
    kinds = {}
    for field in dataclasses.fields(TrainConfig):
        hint = hints[field.name]
        if typing.get_origin(hint) in (Union, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        if typing.get_origin(hint) is Literal:
            kinds[key_of(field.name)] = (str, tuple(typing.get_args(hint)))
        else:
            kinds[key_of(field.name)] = (hint, ())
    return kinds


KINDS = _kinds()
TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings a TOML file gives, as TrainConfig field name -> value, each checked."""
    try:
        raw = read_bounded(Path(path), MAX_CONFIG_BYTES, "a config file")
    except Unreadable as why:
        raise MnistError(f"--config {path}: {why}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise MnistError(f"--config {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise MnistError(f"--config {path}: not valid TOML ({error})") from None
    except RecursionError:  # tomllib parses arrays and inline tables by recursion
        raise MnistError(
            f"--config {path}: its arrays or tables are nested too deeply to read"
            " (a config is flat: `key = value` lines)"
        ) from None
    return config_values(document, f"--config {path}")


def config_values(document: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`document`'s settings as field name -> value; `where` starts each error line."""
    values = {}
    for key, value in document.items():
        if key not in KINDS:
            values_hint = (
                f" (keys are spelled as the options: {key_of(key)!r})"
                if key_of(key) in KINDS
                else f"; the keys are {', '.join(KINDS)}"
            )
            raise MnistError(f"{where}: unknown key {key!r}{values_hint}")
        values[key.replace("-", "_")] = _checked(key, value, where)
    return values


def _checked(key: str, value: Any, where: str) -> Any:
    kind, choices = KINDS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # `lr = 1` means 1.0
    if type(value) is not kind:
        found = type(value).__name__
        if isinstance(value, dict):
            found = "a table"
        raise MnistError(f"{where}: key {key!r} must be {TYPE_NAMES[kind]}, not {found}")
    if choices and value not in choices:
        raise MnistError(f"{where}: key {key!r} must be one of {', '.join(choices)}, not {value!r}")
    return value


def config_toml(config: TrainConfig, comment: str) -> str:
    """A TOML document that gives every setting of `config` (those left to a default, None,
    are left out: TOML has no null), after `comment` lines."""
    values = {key_of(k): v for k, v in dataclasses.asdict(config).items() if v is not None}
    return write_toml(values, comment)


def write_toml(values: Mapping[str, str | int | float | bool], comment: str = "") -> str:
    """Flat `key = value` lines for scalar values, which tomllib reads back as they were."""
    lines = [f"# {_printable(line)}".rstrip() for line in comment.splitlines()]
    for key, value in values.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _printable(text: str) -> str:
    """`text` with the control characters a TOML comment may not hold shown as `?`."""
    return "".join("?" if ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F else c for c in text)


def _key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        return key
    return _string(key)


def _value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"not a scalar: {value!r}")


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for character in text:
        if character in '"\\':
            out.append("\\" + character)
        elif ord(character) < 0x20 or ord(character) == 0x7F:
            out.append(f"\\u{ord(character):04x}")
        else:
            out.append(character)
    return '"' + "".join(out) + '"'
