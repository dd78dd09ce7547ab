"""quantplan.inspection."""
