"""Int8 and float32 kernels for Cortex-M4/M7 in C (src/), cross-compiled with clang (the
`ziglang` wheel) and run instruction by instruction on unicorn: the ground truth behind the
fast cycle model.

build.py  compile + disassemble (cached by source hash, flags and compiler version)
params.py TFLM Prepare(): quantisation parameters and argument blocks per operator
params_f32.py  the same for float32 operators (activation ranges, argument blocks)
machine.py unicorn core with the device's memory map, per-block counting, cache simulation
timing.py  Cortex-M7 / Cortex-M4 pipeline timing (block issue cycles, branch penalties)
runner.py  run one layer or a whole model through the kernels
synth.py   single-operator int8/float32 models with random weights (the calibration sweep's shapes)
"""
