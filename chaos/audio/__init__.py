"""Audio: frame codec, playout model and howling detection, all pure code over bytes."""
