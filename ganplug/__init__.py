"""ganplug: train a GAN on your images, export it to ONNX, play it live over OSC."""

__version__ = "0.1.0"
