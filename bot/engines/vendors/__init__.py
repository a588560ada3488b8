"""One module a vendor (AILabTools, Aidge, PicWish), with what they share: the HTTP wrapper,
retries, rate limits and the table of their image limits."""

__all__ = ["aidge", "ailab", "http", "limits", "picwish", "ratelimit", "retry"]
