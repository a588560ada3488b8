"""The nouns of the product — the grammar and its Spec, Task and its states, the failure tree, reports,
listing presets and compliance, routing rules, text for Slack, the vendors' names — the standard library only."""

__all__ = ["failures", "grammar", "listing", "reports", "routing", "tasks", "text", "vendors"]
