"""Training a run from start to end: its data prepared (prepare), fitted with live history, best-model
keeping, checkpoints and stop requests (loop, callbacks), distillation from teachers (distillation),
several hosts (multi_worker), the rows a run uses (rows) and how long it will take on this machine (estimate).

May import: everything but explain and cli.
"""
