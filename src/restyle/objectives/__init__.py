"""Style, content and text objectives built from backbones and losses; the name -> factory registry; depth masks."""
