"""The jobs: mesh, image, apply and render. Each holds its config and presets, its state, step and outputs; no job
imports another.
"""
