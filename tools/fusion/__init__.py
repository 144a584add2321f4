"""Fusing weak experts: detector ensembles (WBF), the classifier check, calibrated existence and counts."""
