"""The core of the server: ids, the exception tree, settings, the pure lifecycle,
retry, claims, cron and placeholder rules, the event hub, the timer, logs and
tracing. Imports nothing of the server above it (scripts/import_graph checks).
"""
