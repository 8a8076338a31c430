"""edgesim's emulator core: TFLite graphs on microcontroller budgets.

load (graph) -> plan (memory) -> cost (cost) -> report (budget, report); emulator runs the
graph through TFLM; devices holds the profiles. TensorFlow is never imported on this path.
"""

from .budget import Limits, Report, Violation, check
from .devices import DeviceProfile, list_devices, load_device
from edgesim.errors import EdgesimError, InputDataError, ModelFormatError
from .graph import Graph, load_graph
from .assertions import BudgetExceeded, assert_fits
from .emulator import Emulator

__all__ = ["BudgetExceeded", "DeviceProfile", "EdgesimError", "Emulator", "Graph", "InputDataError",
           "Limits", "ModelFormatError", "Report", "Violation", "assert_fits", "check",
           "list_devices", "load_device", "load_graph"]
