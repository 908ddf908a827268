"""The bundled training package: retrain ResNet, Inception v3, VGG and AlexNet from the store's labels."""
