"""Lets `python -m mnist_cli` run the same app as the `mnist` command."""

from mnist_cli.cli.app import main

main()
