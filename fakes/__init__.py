"""Fakes shared by tests/ and bench/, run from the repository root (not part of the installed package).

slack       the fake Slack (Web API, files, uploads, signed events and interactions, Socket Mode)
ailab       AILabTools        aidge   Aidge        picwish   PicWish        (fake vendors, on 127.0.0.1)
web         a plain web server for image URLs
faults      faults a fake vendor answers with; `Hold`, to make requests wait
model       the fake vendors' "model": masks and renders of a test image
images      real images to feed the bot
scenes      synthetic studio scenes with a known answer (the local engine's tests and benchmark)
net         `LocalServer` (an aiohttp app on 127.0.0.1, a free port) and `wait_for` (poll with a deadline)
postgres    `ThrowawayPostgres`: a real PostgreSQL server (not a fake) in a temporary folder, on 127.0.0.1
"""

__all__ = [
    "aidge",
    "ailab",
    "faults",
    "images",
    "model",
    "net",
    "picwish",
    "postgres",
    "scenes",
    "slack",
    "web",
]
