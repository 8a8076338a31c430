"""Errors that reach the user as one line and exit status 2 (input unusable)."""


class EdgesimError(Exception):
    """Base class: the input cannot be used; the message is one line for the user."""


class ModelFormatError(EdgesimError):
    """A model file is missing, truncated, corrupted, not a TFLite flatbuffer or absurd."""


class InputDataError(EdgesimError):
    """Inference inputs of the wrong shape, dtype or value range."""
