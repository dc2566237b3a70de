"""Training a run from start to end: its data prepared (prepare), fitted with live history, best-model
keeping, checkpoints and stop requests (loop, callbacks), distillation from teachers (distillation), and
several hosts (multi_worker).

May import: everything but explain and cli.
"""
