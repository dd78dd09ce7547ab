"""quantplan.demo."""
