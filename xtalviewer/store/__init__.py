"""The store: plates, inspections, drop images, append-only annotations, models and predictions in SQLite."""
