"""Judging predictions: metrics and breakdowns by age bucket, gender and ethnicity (metrics), and honest
answers, age intervals and a calibrated P(female) (calibration). No models and no run files here.

May import: labels, data.
"""
