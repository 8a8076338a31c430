"""edgesim's mobile-NPU targets: Hexagon-class profiles as data, a roofline cost model
(performance.py), check_npu() verdicts and LiteRT-backed runs (runner.py), built on
firmware_sim's graph model and budgets; and forward-only LLM knowledge editing on top.

load (firmware_sim.graph) -> plan (greedy arena) -> cost (performance) -> report (check).
"""
