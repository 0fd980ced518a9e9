"""The steps of this project's machine-learning lifecycle, one module per step."""
