"""Tools that need no model: image operations, box logic and colour naming."""
