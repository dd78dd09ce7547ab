"""quantplan.plan."""
