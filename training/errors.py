"""Errors a user can act on. Every message says what is wrong and what to do about it."""


class HeadStartError(Exception):
    """Base class: the CLI prints these without a traceback; the app shows them as-is."""


class ConfigError(HeadStartError, ValueError):
    """The experiment config is invalid (bad value, unknown field, impossible combination)."""


class DataError(HeadStartError, ValueError):
    """The data cannot be used as configured (missing column, one class, empty, bad encoding...)."""


class DeviceError(HeadStartError, RuntimeError):
    """This machine cannot run the requested configuration (e.g. QLoRA without CUDA)."""


class NotFound(HeadStartError, KeyError):
    """No such run or experiment in the store (a mistyped id). A KeyError too, for code that looks things up."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""
