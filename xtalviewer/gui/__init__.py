"""The review window: Qt widgets, item models and background workers over the Qt-free packages below it
(store, model, review, report ...), which never import it. Grouped by what they show: app, plate, drop,
plots, retrain."""
