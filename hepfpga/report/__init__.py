"""Results for people: metrics, terminal/Markdown tables, plots."""
