"""The one family of errors the core raises; each message tells the user what to do next.

MnistError            exit 1: the base; the CLI prints its message on one red line
├── DataError         a dataset is missing, cannot be fetched, or fails verification
├── CheckpointError   a checkpoint is missing, unreadable or not one of ours
├── ImageError        a file given to predict cannot be read as an image
├── DeviceError       the requested device is not available on this machine
├── OutputError       a file the user asked for cannot be written, or would replace one of theirs
├── ExportError       a model cannot be exported, or its export does not match it
├── InUse             another mnist process is writing the same checkpoint or dataset folder
├── ClusterError      another process of a distributed run died or stopped answering
├── ServeError        `mnist serve` cannot listen where it was asked (the port is taken)
└── Interrupted       exit 130 (Ctrl-C) or 143 (SIGTERM); the message says what was kept
"""


class MnistError(Exception):
    """Base class: the CLI prints the message on one line and exits with `exit_code`."""

    exit_code = 1


class DataError(MnistError):
    """The dataset is missing, cannot be fetched, or fails verification."""


class CheckpointError(MnistError):
    """A checkpoint is missing, unreadable or not one of ours."""


class ImageError(MnistError):
    """A file given to predict cannot be read as an image."""


class DeviceError(MnistError):
    """The requested device is not available on this machine."""


class OutputError(MnistError):
    """A file the user asked for cannot be written."""


class ExportError(MnistError):
    """A model cannot be exported (a missing package), or its export does not match it."""


class InUse(MnistError):
    """Another mnist process holds the lock of the file or folder this one would write."""


class ClusterError(MnistError):
    """Another process of a distributed run died or stopped answering; every rank says so."""


class ServeError(MnistError):
    """`mnist serve` cannot listen on the host and port it was given."""


SIGINT_EXIT = 130  # 128 + the signal's number, as shells report it
SIGTERM_EXIT = 143


class Interrupted(MnistError):
    """The user pressed Ctrl-C (or the process got SIGTERM); the message says what was kept.
    Printed as a plain line, not as an error."""

    exit_code = SIGINT_EXIT


class Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler the `mnist` entry point installs: like Ctrl-C, it unwinds
    (files closed, locks released), then the command exits with 143."""
