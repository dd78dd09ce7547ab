"""quantplan.runtime."""
