"""The CLIP text side: tokenizer, text towers (in-house RN50, transformers ViT-B/32) and prompt embeddings.

Sits beside ``restyle.backbones`` (it reads weights through ``restyle.backbones.weights``) and below
``params``/``jobs``. Nothing here is registered by import side effects.
"""
