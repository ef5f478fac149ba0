"""``restyle web``: a local Gradio app that queues and runs style-transfer jobs through :mod:`restyle.api`."""
