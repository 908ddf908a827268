"""Retraining from the window: the Retrain dialog, its trainer process and curves, and recalibration."""
