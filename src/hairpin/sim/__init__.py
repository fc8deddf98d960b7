"""The built-in racing simulator: maps, physics, renderer, expert driver, Gymnasium environments."""
