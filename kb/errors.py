"""One small error hierarchy; each error carries a stable code and the HTTP status it maps to."""

from __future__ import annotations


class KBError(Exception):
    """Base of every error the service reports to a caller."""

    code: str = "error"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}

    def to_dict(self) -> dict:
        """The JSON body of an error response."""
        body: dict = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(KBError):
    """The input is malformed or out of range."""

    code = "bad_request"
    status = 400


class Unauthorized(KBError):
    """No or an invalid credential."""

    code = "unauthorized"
    status = 401


class Forbidden(KBError):
    """The principal may not do this."""

    code = "forbidden"
    status = 403


class NotFound(KBError):
    """An unknown id (document, library, term, ticket...)."""

    code = "not_found"
    status = 404


class Conflict(KBError):
    """The request conflicts with the current state (duplicate, invalid transition)."""

    code = "conflict"
    status = 409


class PayloadTooLarge(KBError):
    """The input is over a configured size limit."""

    code = "payload_too_large"
    status = 413


class UnsupportedInput(KBError):
    """A file or record cannot be read (binary, bad encoding, malformed markup)."""

    code = "unsupported_input"
    status = 422


class ServiceUnavailable(KBError):
    """A backend (e.g. Elasticsearch) cannot be reached."""

    code = "unavailable"
    status = 503
