"""Tools around the mlops-stack template."""
