"""quantplan.schema."""
