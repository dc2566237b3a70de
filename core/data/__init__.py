"""The face data: loading and validating the CSV (loading), copies and conflicting labels (health), seeded
samples (sampling), train/val/test splits (splits), augmentation (augment), and making a CSV from photos
(importing, utkface).

May import: labels, paths, errors, files, progress, vision.
"""
