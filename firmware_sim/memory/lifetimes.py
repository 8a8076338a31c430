"""Which buffers TFLM plans in the arena head, and when each is alive.

Mirrors TFLM's `AllocationInfoBuilder::MarkAllocationLifetimes`: subgraph inputs are created
at step 0; operator i (0-based) runs at step i + 1, creating its outputs and last using its
inputs there; subgraph outputs live to the last step; a kernel's scratch buffer lives only
during its operator's step. Constant and variable tensors are not planned (they live in the
flatbuffer and the tail). Sizes are rounded up to TFLM's 16-byte buffer alignment.
"""

from __future__ import annotations

from ..graph import Subgraph
from .planner import BufferRequest

BUFFER_ALIGNMENT = 16  # MicroArenaBufferAlignment() in tflite-micro, bytes


def align_up(n: int, alignment: int = BUFFER_ALIGNMENT) -> int:
    return -(-n // alignment) * alignment


def buffer_requests(sg: Subgraph, scratch: dict[int, int] | None = None) -> list[BufferRequest]:
    """Tensor buffers (in tensor order), then scratch buffers {op index: bytes} (in op order)."""
    first: dict[int, int] = {i: 0 for i in sg.inputs}
    last: dict[int, int] = {}
    for step, op in enumerate(sg.operators, start=1):
        for t in op.outputs:
            first.setdefault(t, step)
        for t in op.inputs:
            if t >= 0:
                last[t] = step
        for t in op.outputs:
            last[t] = step
    end = len(sg.operators)
    for t in sg.outputs:
        first.setdefault(t, end)
        last[t] = end
    requests = [BufferRequest(t.name or f"tensor{t.index}", align_up(t.nbytes), first[t.index],
                              last.get(t.index, first[t.index]), tensor=t.index)
                for t in sg.tensors
                if not t.constant and not t.variable and t.nbytes and t.index in first]
    for op_index, size in sorted((scratch or {}).items()):
        if size:
            step = op_index + 1
            requests.append(BufferRequest(f"scratch:op{op_index}:{sg.operators[op_index].opcode}",
                                          align_up(size), step, step, op=op_index))
    return requests
