"""`restyle image`: a photo optimised (pixels) or a U-Net trained (text) under the losses."""
