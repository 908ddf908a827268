"""The CNN side: architectures and checkpoints, the input crop, batch inference, the crystal call, metrics and the model registry."""
