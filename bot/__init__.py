"""The bot's code, in layers a newcomer can see (docs/architecture.md): domain, net, imaging, engines, tasks,
the deliveries slack and cli, and the composition root (__main__, server, app, assembly, config, logs)."""

__all__ = [
    "app",
    "assembly",
    "cli",
    "config",
    "domain",
    "engines",
    "imaging",
    "logs",
    "net",
    "server",
    "slack",
    "tasks",
]
