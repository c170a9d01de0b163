"""DELIVERY — what a team does after deciding: a finished run's delivered model (the one the analysis scores as its
final model) rebuilt from the store, answering new inputs side by side, and exported as a folder with a model card.
It sits above `training.analysis` (it asks the analysis which weights a run delivers and what the experiment
recommends) and `training.service` (the store, and how a run was built); nothing below imports it."""
