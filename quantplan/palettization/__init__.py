"""quantplan.palettization."""
