"""Reviewing a plate: the Qt-free review session, its orders and filters, the plate map and reviewer agreement."""
