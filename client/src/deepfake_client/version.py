"""The API version this client speaks, which is also the package's version."""

__version__ = "0.1.0"
