"""Why a model answered as it did: class activation maps with tf-keras-vis (cams) and drawing them on
faces or averaging them over groups (maps, no TensorFlow).

May import: labels, vision, networks.
"""
