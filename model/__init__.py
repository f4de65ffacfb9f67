"""The structural inpainting network: context encoder, losses, data input, training, export."""
