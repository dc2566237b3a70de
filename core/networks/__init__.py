"""The networks: training recipes as `Preset` objects (presets, no TensorFlow) and the functional Keras
models they build and compile (build).

May import: labels.
"""
