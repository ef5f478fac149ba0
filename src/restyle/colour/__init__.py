"""Colour: palettes (K-means or given), colour transfer, the recolour of a texture."""
