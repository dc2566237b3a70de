"""Answers from trained models: one `Predictor` with a Keras or an int8 back-end and the run's flip averaging
decided once (predictor, int8), every face of a photo (photos, face_warnings), photos in bulk (files),
a run scored and calibrated (scoring), and models exported with a parity check (export).

May import: labels, paths, errors, files, progress, config, vision, data, networks, evaluation, runs.
"""
