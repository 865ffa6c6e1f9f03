"""`mnist download`, and fetching a dataset when another command finds it missing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mnist_cli.cli.options import DATA, DEFAULTS, DataDir, Dataset, Quiet
from mnist_cli.cli.output import output_of
from mnist_cli.cli.progress import download_progress
from mnist_cli.cli.report import download_report
from mnist_cli.config import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from mnist_cli.cli.output import Output
    from mnist_cli.data import catalog
    from mnist_cli.data.download import FileResult

EXAMPLES = (
    "Examples:\n\n"
    "  mnist download\n\n"
    "  mnist download --mirror https://my.mirror/mnist/\n\n"
    "  mnist download --from ~/Downloads   (offline: files already on disk)\n\n"
    "  mnist download --dataset fashion-mnist --from /usr/share/datasets/fashion-mnist"
)


def fetch_dataset(
    output: Output,
    dataset: catalog.Dataset,
    data_dir: Path,
    mirrors: list[str] | tuple[str, ...] = (),
    source_dir: Path | None = None,
    force: bool = False,
    quiet: bool = False,
) -> list[FileResult]:
    """Download (or import from `source_dir`) with a bar per file."""
    from mnist_cli.data.download import download

    with download_progress(output, quiet) as progress:
        tasks: dict[str, int] = {}

        def on_progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total)

        return download(dataset, data_dir, mirrors, source_dir, force, on_progress)


def ensure_data(output: Output, dataset: catalog.Dataset, data_dir: Path, quiet: bool) -> None:
    """Before a command that reads the data: fetch it first if it is not there."""
    from mnist_cli.data.store import missing_files

    if missing_files(dataset, data_dir):
        output.note(f"{dataset.title} is not in {data_dir}: downloading it first")
        fetch_dataset(output, dataset, data_dir, quiet=quiet)


def _check_mirrors(mirrors: list[str]) -> list[str]:
    from mnist_cli.data.download import check_mirror

    try:
        return [check_mirror(m) for m in mirrors]
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--mirror") from None


def download(
    ctx: typer.Context,
    dataset_name: Dataset = DEFAULTS.dataset,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    mirror: Annotated[
        list[str],
        typer.Option(
            "--mirror",
            metavar="URL",
            help="A mirror to try first (http, https or file URL). Repeatable.",
            rich_help_panel=DATA,
        ),
    ] = [],  # noqa: B006 - Typer reads it, never mutates it
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="DIR",
            help="Import the files from this folder instead of downloading.",
            rich_help_panel=DATA,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Fetch again even if the files are valid.", rich_help_panel=DATA
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Fetch a dataset's four files and verify them against the original content."""
    output = output_of(ctx, quiet)
    mirrors = _check_mirrors(mirror)
    with output.handled():
        from mnist_cli.data.store import dataset_dir, get_dataset

        dataset = get_dataset(dataset_name)
        results = fetch_dataset(output, dataset, data_dir, mirrors, from_dir, force)
    download_report(output, f"{dataset.title} in {dataset_dir(dataset, data_dir)}", results)
