"""The error family. Every AccessError carries a message a user can act on."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.location import Location


class AccessError(Exception):
    """An error with a user-facing message. The CLI prints it and exits 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LocatedError(AccessError):
    """One problem at a file:line."""

    def __init__(self, location: Location | None, message: str) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location
        self.detail = message


class ValidationErrors(AccessError):
    """Many located problems, reported together."""

    def __init__(self, errors: Iterable[LocatedError]) -> None:
        self.errors = sorted(errors, key=lambda e: ((e.location or Location("", 0)).sort_key(), e.message))
        super().__init__("\n".join(e.message for e in self.errors))


class ConfigError(AccessError):
    """A missing or malformed setting (environment variable)."""


class VendorError(AccessError):
    """A vendor API answered with an error we cannot recover from."""

    def __init__(self, vendor: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{vendor}: {message}")
        self.vendor = vendor
        self.status = status


class VendorHalt(VendorError):
    """Every further write to this vendor would be unsafe or fail the same way (an answer the code
    did not expect, a setting the vendor refuses). Apply records the change that met it as failed
    and attempts no other change at that vendor; anywhere else it ends the run like any error."""

    def __init__(self, vendor: str, message: str, *, status: int | None = None) -> None:
        AccessError.__init__(self, f"{vendor}: {message}" if vendor else message)
        self.vendor = vendor
        self.status = status


class WritesStopped(VendorHalt):
    """A write refused because an earlier `VendorHalt` stopped the vendor's writes in this run."""

    def __init__(self, cause: VendorHalt) -> None:
        super().__init__(cause.vendor, "not attempted: an earlier answer stopped the writes to this vendor")
        self.cause = cause


class TenantError(AccessError):
    """Tenants (Procore companies) named in access/ that the credentials cannot reach.

    The connector does not know where the YAML names them; the command that synced it does, and
    reports each at its `file:line` (`message_for`).
    """

    def __init__(self, vendor: str, tenants: Iterable[str], reason: str) -> None:
        self.vendor = vendor
        self.tenants = tuple(tenants)
        self.reason = reason
        self.status: int | None = None
        AccessError.__init__(self, f"{vendor}: company {', '.join(self.tenants)} {reason}")

    def message_for(self, tenant: str) -> str:
        return f"{self.vendor}: company {tenant} {self.reason}"


class UnknownTenantConfig(TenantError, ConfigError):
    """A tenant the settings do not list."""


class HiddenTenantError(TenantError, VendorError):
    """A tenant the vendor does not show to these credentials."""


class StalePlanError(AccessError):
    """The actual state changed since the plan was made."""


class RefusedError(AccessError):
    """apply refused to act (approval, safety limit, lock)."""
