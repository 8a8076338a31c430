"""Calibration of the TFLM tensor-arena model (firmware_sim/memory/arena.py, tflm_arena.toml).

TFLM's MicroAllocator splits the tensor arena into a *head* (planned activations and scratch
buffers) and a *tail* (persistent objects, allocated downwards from the end of the arena and
never freed). The tail is a sequence of allocations, each one placed at

    d = roundup(d + size, align)          # d: distance (bytes) from the 16-aligned arena end

in this order:

 1. fixed objects (allocator, memory planner, interpreter graph objects), not recorded,
 2. one TfLiteEvalTensor per tensor,
 3. one NodeAndRegistration per operator,
 4. per operator, in operator order: its parsed builtin options ("builtin data"), not recorded,
 5. per operator, in operator order: the persistent buffers allocated in the kernel's Init(),
 6. per operator, in operator order: the persistent buffers allocated in Prepare() (some of them
    sized by the output-channel count),
 6b. one ScratchBufferHandle per scratch buffer requested in Prepare(), not recorded,
 7. for the subgraph inputs, then the outputs: an array of tensor pointers (a persistent buffer),
    then per tensor a persistent TfLiteTensor, its TfLiteAffineQuantization and its zero-point
    TfLiteIntArray (quantised tensors only).

The modules, in the order a calibration runs them:

- build:   tiny INT8 models with TensorFlow (imported inside functions only),
- probes:  the catalogue of probes, which models isolate which operator,
- probe:   build each probe's models and measure them with the tflite-micro interpreter,
- structs: the global struct sizes and alignments from the measurements,
- fit:     per-operator numbers, and what the report cannot separate, fitted,
- write:   render the TOML and write it atomically,
- verify:  recompute every measured model with the written table.

The check path never imports this package.
"""
