"""The one family of errors the core raises: each message tells the user what to do next."""


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


class Interrupted(MnistError):
    """The user pressed Ctrl-C (or the process got SIGTERM); the message says what was kept."""

    exit_code = 130


class OutputError(MnistError):
    """A file the user asked for cannot be written."""
