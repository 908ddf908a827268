"""Synthetic drop images and the built-in demo data (never on the runtime path of real plates)."""
