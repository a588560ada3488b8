"""The nouns of the product — the grammar and its Spec, Task and its states, the failure tree, reports,
text for Slack, the vendors' names — with no dependency but the standard library."""

__all__ = ["failures", "grammar", "reports", "tasks", "text", "vendors"]
