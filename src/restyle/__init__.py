"""restyle: neural style transfer onto 3D assets and images."""

__version__ = "0.1.0"
