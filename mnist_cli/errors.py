"""The one family of errors the core raises; each message tells the user what to do next.

MnistError            exit 1: the base; the CLI prints its message on one red line
├── DataError         a dataset is missing, cannot be fetched, or fails verification
├── CheckpointError   a checkpoint is missing, unreadable or not one of ours
├── ImageError        a file given to predict cannot be read as an image
├── DeviceError       the requested device is not available on this machine
├── OutputError       a file the user asked for cannot be written
├── ExportError       a model cannot be exported, or its export does not match it
└── Interrupted       exit 130: Ctrl-C or SIGTERM; the message says what was kept
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


class Interrupted(MnistError):
    """The user pressed Ctrl-C (or the process got SIGTERM); the message says what was kept."""

    exit_code = 130
