"""The held-out QC set (issue #15, "honest calibration"): clips made by code of its own (photos.py,
render.py, motions.py, recipes.py), at the presets' real sizes, durations and frame rates, scored once
by the gate with the packaged thresholds (score.py) and never used to choose a threshold."""
