"""The age & gender CNN studio's library: data, models, training, evaluation, explanation."""
