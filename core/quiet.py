"""Silence TensorFlow's C++ start-up chatter; import before TensorFlow in command-line entry points."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
