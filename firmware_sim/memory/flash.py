"""Flash = the model flatbuffer (weights stay in flash, TFLM reads them in place) + code.

Code is estimated, not linked: TFLM's core runtime plus one kernel per operator type used.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..graph import Graph
from ..kernel_stacks import kernel_for

#: TFLM README: "The core runtime just fits in 16 KB on an Arm Cortex M3" (bytes).
RUNTIME_CODE_BYTES = 16 * 1024
#: Per reference kernel: TFLM README, "with enough operators to run a speech keyword
#: detection model, takes up a total of 22 KB": (22 - 16) KB over that model's 4 operator
#: types (conv, depthwise conv, fully connected, softmax) = 1.5 KB each (bytes).
REFERENCE_KERNEL_CODE_BYTES = 1536
#: Per CMSIS-NN kernel: the TFLM glue plus CMSIS-NN's specialised variants (e.g. conv ships
#: the generic, 1x1 and 1xN paths plus the mat-mult inner loops). Estimate: 3x a reference
#: kernel, not yet measured (bytes).
CMSIS_NN_KERNEL_CODE_BYTES = 3 * REFERENCE_KERNEL_CODE_BYTES


@dataclass(frozen=True)
class FlashUse:
    model_bytes: int
    code_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.code_bytes


def flash_use(graph: Graph, stack: str) -> FlashUse:
    """Flash for an MCU kernel stack; for TFLite on Linux ("xnnpack") the model file alone,
    which sits in storage (the runtime is part of the OS image)."""
    if stack == "xnnpack":
        return FlashUse(model_bytes=graph.size_bytes, code_bytes=0)
    kernels = {(op.opcode, kernel_for(stack, op)) for sg in graph.subgraphs for op in sg.operators}
    code = RUNTIME_CODE_BYTES + sum(
        CMSIS_NN_KERNEL_CODE_BYTES if impl == "cmsis-nn" else REFERENCE_KERNEL_CODE_BYTES
        for _, impl in kernels)
    return FlashUse(model_bytes=graph.size_bytes, code_bytes=code)
