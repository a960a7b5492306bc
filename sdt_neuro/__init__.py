"""sdt-neuro."""
