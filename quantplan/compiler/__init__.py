"""quantplan.compiler."""
