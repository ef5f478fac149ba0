"""`restyle apply`: a saved text-trained U-Net run over images, folders and videos."""
