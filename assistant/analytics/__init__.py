"""Operator analytics: a validated query plan compiled to parameterized SQL on a read-only DB.

The LLM only fills a `QueryPlan` (JSON schema); nothing it writes is executed as code or SQL.
"""
