"""Qt-free heart of xtalviewer: labels, plates, store, importers, imaging, models, inference."""
