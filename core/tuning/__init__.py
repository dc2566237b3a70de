"""Hyperparameter search on Optuna: a search space over a preset's settings, objectives on the validation split,
studies in a storage several processes and machines share, and the worker that runs their trials as runs.

May import: the ground floor, data, networks, config, evaluation, runs, inference and training.
"""
