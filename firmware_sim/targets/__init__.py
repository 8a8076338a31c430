"""The targets firmware_sim ships: microcontrollers (mcu.py) and application CPUs (cpu.py).
npu_sim adds the NPU target; all register in pyproject.toml (see firmware_sim/target.py)."""
