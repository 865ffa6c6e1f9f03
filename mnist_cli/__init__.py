"""mnist: the whole MNIST workflow (download, train, evaluate, predict) as one command."""

__version__ = "0.1.0"
