"""suts."""
