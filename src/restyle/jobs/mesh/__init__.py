"""`restyle mesh`: a mesh's UV textures optimised through the differentiable renderer."""
