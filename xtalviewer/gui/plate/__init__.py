"""What shows a plate: the plate browser, the plate map, the flowing queue, the hit list and live scoring."""
