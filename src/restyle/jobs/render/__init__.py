"""`restyle render`: previews, turntables and RGB-D views of an asset."""
