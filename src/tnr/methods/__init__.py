"""Django-free statistical and data methods: simulation, record linkage, estimation.

Nothing in this package may import Django or the Django apps (an import-linter contract and a
test enforce it), so it can run in a notebook, a worker or on Spark without the web app.
"""
