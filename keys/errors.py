"""The project's exception tree: one base class, one subclass per phase.

Lives in ``keys`` because it is the lowest package; every other package
imports its base from here.
"""

from __future__ import annotations


class DigestflowError(Exception):
    """Base class of every error digestflow raises on purpose."""


class SigningError(DigestflowError):
    """A key could not be computed."""


class UnhashableError(SigningError, TypeError):
    """A value has no canonical encoding (no encoder and no ``__digest__``)."""


class ClosureWarning(UserWarning):
    """Something a task's code reaches was left out of its key (named in the message)."""
