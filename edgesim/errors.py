"""Errors that reach the user as one line and exit status 2 (the input is unusable).

Anything else that escapes a command is an internal error (exit status 3, see `cli`).
"""


class EdgesimError(Exception):
    """Base class: the input cannot be used; the message is one line for the user."""


class ModelFormatError(EdgesimError):
    """A model file is missing, truncated, corrupted, not a TFLite flatbuffer or absurd."""


class InputDataError(EdgesimError):
    """Inference inputs or audio of the wrong shape, dtype, rate or value range."""


class ProfileError(EdgesimError):
    """A device profile (TOML) that is missing, malformed or outside the schema's bounds."""
