"""Tools that keep the test tree in house style; run from the repository root."""
