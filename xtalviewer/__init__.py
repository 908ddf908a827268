"""xtalviewer: review crystallization plate images with live CNN predictions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xtalviewer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
