"""restyle: neural style transfer onto 3D assets and images.

``restyle.stylize_image(...)`` and ``restyle.stylize_mesh(...)`` are the Python API (see ``restyle.api``).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["stylize_image", "stylize_mesh", "render_preview"]


def __getattr__(name: str) -> Any:
    # The API pulls in torch and every backbone; keep `import restyle` (and `restyle --help`) light.
    if name in __all__:
        from restyle import api

        return getattr(api, name)
    raise AttributeError(f"module 'restyle' has no attribute {name!r}")
