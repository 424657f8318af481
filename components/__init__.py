"""Custom TFX components of odweights (imported as `odweights.components`)."""
