"""Qt widgets, item models and background workers. Imports core, never the reverse."""
