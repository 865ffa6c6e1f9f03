"""`mnist download`, and fetching a dataset when another command finds it missing."""

from __future__ import annotations

from pathlib import Path

import typer

from mnist_cli import render
from mnist_cli.cli.app import (
    DATA_DIR,
    DATASET,
    app,
    handled,
)
from mnist_cli.config import (
    DatasetName,
)


def fetch_dataset(dataset, data_dir: Path, mirrors=(), source_dir=None, force=False, quiet=False):
    from mnist_cli.download import download

    with render.download_progress(quiet) as progress:
        tasks: dict[str, int] = {}

        def on_progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total)

        return download(dataset, data_dir, mirrors, source_dir, force, on_progress)


def ensure_data(dataset, data_dir: Path, quiet: bool) -> None:
    from mnist_cli.datasets import missing_files

    if missing_files(dataset, data_dir):
        render.note(f"{dataset.title} is not in {data_dir}: downloading it first")
        fetch_dataset(dataset, data_dir, quiet=quiet)


def _check_mirrors(mirrors: list[str]) -> list[str]:
    from mnist_cli.download import check_mirror

    try:
        return [check_mirror(m) for m in mirrors]
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--mirror") from None


@app.command(
    epilog="Examples:\n\n"
    "  mnist download\n\n"
    "  mnist download --mirror https://my.mirror/mnist/\n\n"
    "  mnist download --from ~/Downloads   (offline: files already on disk)\n\n"
    "  mnist download --dataset fashion-mnist --from /usr/share/datasets/fashion-mnist"
)
def download(
    dataset_name: DatasetName = DATASET,
    data_dir: Path = DATA_DIR,
    mirror: list[str] = typer.Option(
        [], "--mirror", help="A mirror to try first (http, https or file URL). Repeatable."
    ),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Import the files from this folder instead of downloading."
    ),
    force: bool = typer.Option(False, "--force", help="Fetch again even if the files are valid."),
) -> None:
    """Fetch a dataset's four files and verify them against the original content."""
    mirrors = _check_mirrors(mirror)
    with handled():
        from mnist_cli.datasets import dataset_dir, get_dataset

        dataset = get_dataset(dataset_name)
        results = fetch_dataset(dataset, data_dir, mirrors, from_dir, force)
    render.download_report(f"{dataset.title} in {dataset_dir(dataset, data_dir)}", results)
