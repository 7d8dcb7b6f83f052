"""Code generated from the server's declarations: the TypeScript AppRouter
(typegen), the Python client (clientgen), the task types (task_typegen).
"""
