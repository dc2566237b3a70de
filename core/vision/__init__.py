"""From a photo to what the models read: decoding any upload safely (images) and finding, aligning and
cropping faces to 48x48 grayscale like the training chips (faces).

May import: labels, errors.
"""
