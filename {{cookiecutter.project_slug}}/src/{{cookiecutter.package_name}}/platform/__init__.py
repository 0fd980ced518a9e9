"""The platform layer: where a step runs, its tables, task values and the local job runner.

It is the same in every project made from the template, and `mlops-stack update` brings its fixes,
so do not edit it: change its behaviour through `settings.py`, the bundle (`databricks.yml`,
`resources/*.yml`) or modules of your own next to it.
"""
