"""What shows one drop: its image (zoom, crop box, Grad-CAM), side panel, label buttons, history and time course."""
