"""quantplan.loading."""
