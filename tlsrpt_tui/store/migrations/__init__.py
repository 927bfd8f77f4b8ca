"""Schema migrations, one module per subsystem, applied in numeric order."""
