"""edgesim: emulate microcontrollers and mobile NPUs before you touch a board.

This small package holds what the three domain packages (`firmware_sim`, `npu_sim`,
`speech_privacy`) share: the `edgesim` command (`cli`), the error hierarchy (`errors`), where
caches, data and outputs live (`paths`) and atomic file writes (`io`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgesim")
except PackageNotFoundError:          # running from a checkout that was never installed
    __version__ = "0+unknown"
