"""A running node: create_app and Node (the one wiring point), the runner, the
periodic jobs, /metrics, /healthz, /readyz and the drain, the console, artifacts,
the inbound pages. The top layer (scripts/import_graph checks).
"""
