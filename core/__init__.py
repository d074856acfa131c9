"""The ground every app stands on: money, errors, cache and invalidation, metrics, logs, transactions, tasks.

Nothing here imports an app of the project (an import-linter contract, .importlinter); the apps import it.
"""
