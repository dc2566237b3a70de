"""The age & gender CNN studio's library, in rooms that follow the data's flow.

    labels, paths, errors, files, progress, quiet   the ground floor: constants, locations, the project's error, small helpers
    vision       a photo -> aligned 48x48 face crops (decoding any upload, detecting, aligning)
    data         the face CSV -> faces and labels (loading, health, sampling, splits, augmentation, importing photos)
    networks     presets (training recipes as objects) and the Keras models they build
    config       TrainConfig: a run's settings, its preset resolved once
    evaluation   predictions -> metrics, breakdowns and calibration (no models, no files)
    runs         the run directory: its files, their schema, reading and writing, the run's lifecycle, the model card
    inference    one Predictor (Keras or int8 back-end, flip decided once), photos, files, scoring a run, export
    training     prepare the data, fit, export, score: a run from start to end (and resumed)
    explain      class activation maps (cams) and drawing or averaging them (maps)
    cli          one thin command per job; `python -m core --help` lists them

A room imports only rooms above it in this list (tests/test_layers.py checks);
nothing in the library imports cli.
"""
