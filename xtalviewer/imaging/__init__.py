"""Drop images: robust decoding and the thumbnail cache."""
