"""One module a vendor (AILabTools, Aidge, PicWish), with what they share: the HTTP wrapper, the
readers of their JSON answers, retries, rate limits and the table of their image limits."""

__all__ = ["aidge", "ailab", "answers", "http", "limits", "picwish", "ratelimit", "retry"]
