"""edgesim's mobile-NPU target: Hexagon-class profiles as data (devices.py), a roofline
cost model (performance.py) and the target that plugs both into firmware_sim's one `check`
pipeline and Emulator (target.py); and forward-only LLM knowledge editing on top.
"""
