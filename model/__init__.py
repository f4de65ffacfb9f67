"""The structural inpainting network: context encoder, losses, training, export, evaluation."""
