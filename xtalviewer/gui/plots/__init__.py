"""The Plots dialog and its tabs."""
