"""Docs that cannot go stale: the JSON examples in docs/json.md are run and their keys compared
with what the commands print; the module map in docs/architecture.md is checked against the tree;
the README stays short and links every page of docs/."""

from __future__ import annotations

import json
import re
import shlex

from PIL import Image

from tests.conftest import REPO, app

DOCS = REPO / "docs"
PACKAGE = REPO / "mnist_cli"
# A console block with one `$ mnist ... --json` line, then (after prose, if any) a json block.
EXAMPLE = re.compile(
    r"```console\n\$ (mnist [^\n]*--json)\n```(?:(?!```).)*```json\n(.*?)```", re.S
)


def json_examples() -> list[tuple[str, object]]:
    """(command, the JSON the page shows for it), in the order of the page."""
    text = (DOCS / "json.md").read_text(encoding="utf-8")
    return [(command, json.loads(shown)) for command, shown in EXAMPLE.findall(text)]


def keys(value: object) -> object:
    """The shape of a JSON value as far as keys go: objects by their keys, lists by their first
    item (the page may shorten a list), anything else as None."""
    if isinstance(value, dict):
        return {key: keys(item) for key, item in value.items()}
    if isinstance(value, list) and value:
        return [keys(value[0])]
    return None


def same_keys(shown: object, printed: object, where: str = "$") -> list[str]:
    """Where the keys the page shows differ from the keys the command printed."""
    if isinstance(shown, dict) and isinstance(printed, dict):
        differences = []
        if set(shown) != set(printed):
            differences.append(f"{where}: page {sorted(shown)} != printed {sorted(printed)}")
        for key in set(shown) & set(printed):
            differences += same_keys(shown[key], printed[key], f"{where}.{key}")
        return differences
    if isinstance(shown, list) and isinstance(printed, list) and shown and printed:
        return same_keys(shown[0], printed[0], f"{where}[0]")
    return []


def test_the_json_page_shows_every_command_that_prints_json():
    commands = [shlex.split(command)[1] for command, _ in json_examples()]
    assert commands == ["train", "evaluate", "predict", "info", "export"]


def test_json_examples_have_the_keys_the_commands_print(runner, tiny_data):
    # The page's predict example reads digit.png: a synthetic "1" stands in for it.
    pixels = Image.new("L", (28, 28), 0)
    pixels.paste(255, (13, 5, 16, 23))
    pixels.save("digit.png")
    for command, shown in json_examples():
        result = runner.invoke(app(), shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
        printed = json.loads(result.stdout)
        assert same_keys(keys(shown), keys(printed)) == [], command


def test_same_keys_notices_a_missing_or_renamed_key():
    printed = {"a": 1, "rows": [{"x": 1, "y": 2}]}
    assert same_keys(keys(printed), keys(printed)) == []
    assert same_keys(keys({"a": 1, "rows": [{"x": 1}]}), keys(printed)) != []
    assert same_keys(keys({"b": 1, "rows": [{"x": 1, "y": 2}]}), keys(printed)) != []


def mapped_modules() -> set[str]:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(mnist_cli/[\w/]+\.py)` \|", text, re.M))


def test_the_module_map_is_the_tree():
    tree = {str(path.relative_to(REPO)) for path in PACKAGE.rglob("*.py")}
    mapped = mapped_modules()
    assert sorted(tree - mapped) == [], "modules missing from docs/architecture.md"
    assert sorted(mapped - tree) == [], "docs/architecture.md maps modules that do not exist"


def test_subpackages_are_folders_with_empty_init_files():
    """Empty, so that importing one family never imports another (or torch) by the way."""
    for init in PACKAGE.glob("*/__init__.py"):
        assert init.read_text() == "", init


def test_readme_is_short_and_links_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    linked = set(re.findall(r"\(docs/([\w-]+\.md)\)", readme))
    pages = {page.name for page in DOCS.glob("*.md")}
    assert sorted(pages - linked) == [], "docs pages the README does not link"
    assert sorted(linked - pages) == [], "README links to docs pages that do not exist"
