"""What every vendor client shares: one httpx client, typed errors for network trouble, guarded result
downloads (public addresses only, within a deadline) with retries, and an optional request-rate limit."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx

from bot.domain.failures import (
    ErrorKind,
    SourceError,
    VendorError,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
)
from bot.domain.grammar import Spec
from bot.engines.base import CutProgress, ResultPart
from bot.engines.vendors.ratelimit import CallLimits
from bot.engines.vendors.retry import RetryPolicy, call_with_retries
from bot.net.downloads import DEFAULT_DEADLINE_S, DEFAULT_MAX_BYTES, DownloadError
from bot.net.urls import fetch_url


class VendorHTTP:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        vendor: str,
        key_var: str,
        retry: RetryPolicy | None = None,
        allow_private_urls: bool = False,
        limits: CallLimits | None = None,
        max_result_bytes: int = DEFAULT_MAX_BYTES,
        download_deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> None:
        self.http = http
        self.vendor = vendor
        self.key_var = key_var
        self.retry = retry or RetryPolicy()
        self._allow_private = allow_private_urls
        self._limits = limits
        self._max_result_bytes = max_result_bytes
        self._download_deadline_s = download_deadline_s

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One API request, within the vendor's concurrency and rate limits; network trouble becomes
        VendorTimeout or VendorUnavailable. (Result downloads go to the vendor's file host: not limited.)"""
        async with self._limits.call() if self._limits is not None else contextlib.nullcontext():
            return await self._send(method, url, **kwargs)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise VendorTimeout(vendor=self.vendor, key_var=self.key_var) from None
        except httpx.TransportError as error:
            raise VendorUnavailable(
                vendor=self.vendor,
                code="CONNECTION_ERROR",
                message=f"could not reach {self.vendor} ({type(error).__name__})",
                kind=ErrorKind.VENDOR_DOWN,
                key_var=self.key_var,
            ) from None

    def error(
        self,
        *,
        retryable: bool,
        code: str,
        message: str,
        kind: ErrorKind,
        status: int | None,
        headers: httpx.Headers | None = None,
    ) -> VendorError:
        fields: dict[str, Any] = {
            "vendor": self.vendor,
            "code": code,
            "message": message,
            "kind": kind,
            "http_status": status,
            "key_var": self.key_var,
        }
        if retryable:
            return VendorUnavailable(retry_after=retry_after(headers), **fields)
        return VendorRejected(**fields)

    def refused(
        self, response: httpx.Response, *, retryable: bool, code: str, message: str, kind: ErrorKind
    ) -> VendorError:
        """The vendor said no in `response`: the error carries its HTTP status and, when it is worth trying
        again, its Retry-After."""
        return self.error(
            retryable=retryable,
            code=code,
            message=message,
            kind=kind,
            status=response.status_code,
            headers=response.headers,
        )

    def unusable(self, *, code: str, message: str, kind: ErrorKind) -> VendorError:
        """The vendor answered 200 with something the bot cannot use (no result URL, too many masks…):
        never retried, the same answer would come again."""
        return self.error(retryable=False, code=code, message=message, kind=kind, status=200)

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The answer's JSON object. An answer that is not one is an error, retried when the server failed."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        status = response.status_code
        retryable = status in (200, 429) or status >= 500
        raise self.error(
            retryable=retryable,
            code=f"HTTP_{status}",
            message="the answer was not the JSON the API documents",
            kind=ErrorKind.VENDOR_DOWN if retryable else ErrorKind.UNKNOWN,
            status=status,
        )

    async def fetch(self, url: str, dest: Path) -> None:
        """Download a result URL (never with our credentials), retrying what is worth retrying."""

        async def attempt() -> None:
            try:
                await fetch_url(
                    self.http,
                    url,
                    dest,
                    allow_private=self._allow_private,
                    max_bytes=self._max_result_bytes,
                    deadline_s=self._download_deadline_s,
                )
            except SourceError as refused:  # its message names the URL's host; the code is enough here
                raise VendorRejected(
                    vendor=self.vendor,
                    code="RESULT_URL_REFUSED",
                    message=f"the bot does not fetch that result URL ({refused.code})",
                    kind=ErrorKind.RESULT_MISSING,
                ) from None
            except DownloadError as error:
                raise self._download_failure(error) from None

        await call_with_retries(attempt, self.retry, what=f"{self.vendor} result download")

    def _download_failure(self, error: DownloadError) -> VendorError:
        if error.reason == DownloadError.DEADLINE:
            # Not retried: a file host this slow is as slow on the next try, and each try holds a worker
            # for the whole deadline.
            return self.error(
                retryable=False,
                code="RESULT_TOO_SLOW",
                message=f"the result download took longer than {error.deadline_s:g} s",
                kind=ErrorKind.RESULT_MISSING,
                status=None,
            )
        if error.reason == DownloadError.TIMEOUT:
            return VendorTimeout(
                vendor=self.vendor, message="the result download timed out", key_var=self.key_var
            )
        kind = ErrorKind.RESULT_MISSING
        if error.reason == DownloadError.CONNECTION:
            return self.error(
                retryable=True,
                code="RESULT_CONNECTION_ERROR",
                message="could not fetch the result",
                kind=kind,
                status=None,
            )
        if error.reason == DownloadError.TOO_LARGE:
            return self.error(
                retryable=False,
                code="RESULT_TOO_LARGE",
                message="the result file was larger than we accept",
                kind=kind,
                status=None,
            )
        status = error.status or 0
        if status == 429 or status >= 500:
            return self.error(
                retryable=True,
                code=f"RESULT_HTTP_{status}",
                message="the result server failed",
                kind=kind,
                status=status,
            )
        return self.error(
            retryable=False,
            code=f"RESULT_HTTP_{status}",
            message="the result URL did not give the file (expired?)",
            kind=kind,
            status=status,
        )

    async def aclose(self) -> None:
        await self.http.aclose()


class VendorClient:
    """What every vendor client shares: result downloads, closing, and `resume` for vendors that answer
    at once (an asynchronous vendor overrides it)."""

    name: str
    _http: VendorHTTP

    async def resume(self, vendor_task_id: str, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        raise NotImplementedError(f"{self.name} answers at once; there is nothing to resume")

    async def fetch(self, url: str, dest: Path) -> None:
        await self._http.fetch(url, dest)

    async def aclose(self) -> None:
        await self._http.aclose()


def retry_after(headers: httpx.Headers | None) -> float | None:
    value = headers.get("retry-after", "") if headers is not None else ""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
