"""edgesim's emulator core: TFLite graphs on device budgets.

load (graph) -> rules, plan (memory), cost (cost) per target (target.py, targets/) -> one
Report (records.py) -> writers; pipeline.check runs it for every target; emulator runs the
graph through the target's interpreter; devices holds the profiles. TensorFlow is never
imported on this path.
"""

from .devices import DeviceProfile, list_devices, load_device
from .pipeline import check
from .records import Limits, Report, Violation
from edgesim.errors import EdgesimError, InputDataError, ModelFormatError
from .graph import Graph, load_graph
from .assertions import BudgetExceeded, assert_fits
from .emulator import Emulator

__all__ = ["BudgetExceeded", "DeviceProfile", "EdgesimError", "Emulator", "Graph", "InputDataError",
           "Limits", "ModelFormatError", "Report", "Violation", "assert_fits", "check",
           "list_devices", "load_device", "load_graph"]
