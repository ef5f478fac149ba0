"""The quality evaluator: held-out views scored with VGG19 distances."""
