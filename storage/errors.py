"""Storage errors: all derive from ``StorageError`` (a ``DigestflowError``).

``ObjectNotFound`` is the typed miss (also a ``KeyError``, so ``except KeyError``
works); ``CorruptObjectError`` means the object was moved aside and should be
recomputed; ``UntrustedPickleError`` means a pickle failed authentication and
was not loaded; its ``UnknownKeyError`` means the pickle was signed with a key
this process does not list (the store quarantines it: a miss, recomputed).
``NotDecodableHere`` means a whole, authentic object needs something this
process lacks (a library, a class, a CUDA device): it stays in the store.
"""

from __future__ import annotations

from keys.errors import DigestflowError


class StorageError(DigestflowError):
    """Anything the store refuses or cannot do."""


class ObjectNotFound(StorageError, KeyError):
    """No object (no manifest) for this key and socket: a cache miss."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "object not found"


class CorruptObjectError(StorageError):
    """Stored bytes do not match their manifest; the object was quarantined."""


class UntrustedPickleError(StorageError):
    """A pickle's authentication tag is missing or wrong, so it was not loaded."""


class UnknownKeyError(UntrustedPickleError):
    """A pickle signed with a key not in this process's keyring: not loaded."""


class NotDecodableHere(StorageError):
    """The object's bytes checked out, but this process cannot decode them (a missing
    library or class, no CUDA device): an error here, not a corrupt object, so it is
    left in place for the processes that can read it."""


__all__ = ["CorruptObjectError", "NotDecodableHere", "ObjectNotFound", "StorageError",
           "UnknownKeyError", "UntrustedPickleError"]
