"""The steps of this project's machine-learning lifecycle, one module per step.

They run on the platform layer in `platform/`, which is the template's and not to be edited.
"""
