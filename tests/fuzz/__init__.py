"""The fuzz suite: a runner (harness) and one module per input family (see harness)."""
