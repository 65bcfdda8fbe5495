"""Domain codes of the file family (contract §7.5) and the retry disposition of each.

Defaults (contract §6.3): no timeout, no retries, for all three block types. A disposition
only matters once a user sets retries on the block (``set_retry...``):

=============================  ============  ==================================================
code                           disposition   when
=============================  ============  ==================================================
``file.not_found``             never         the file or directory (or the files root) does
                                             not exist (``ENOENT``)
``file.permission_denied``     never         the OS refused access (``EACCES``, ``EPERM``,
                                             ``EROFS``): someone has to change permissions
``file.invalid_path``          never         the path leaves the files root (``..``, an
                                             absolute path outside it, a symlink resolving
                                             outside it), a directory where a file is expected
                                             (or the reverse), a symlink loop, a name too long
``file.io``                    backoff       any other OS failure (``EIO``, ``ENOSPC``,
                                             ``EBUSY``...), which may pass; ``never`` when the
                                             content cannot be encoded, and after a short
                                             append (a retry could duplicate what was written)
=============================  ============  ==================================================
"""

from __future__ import annotations

from orchestrator_blocks import sdk

DOMAIN = "file"
NOT_FOUND = "file.not_found"
PERMISSION_DENIED = "file.permission_denied"
INVALID_PATH = "file.invalid_path"
IO = "file.io"
CODES = (NOT_FOUND, PERMISSION_DENIED, INVALID_PATH, IO)

FAMILY = sdk.family(
    "file",
    domain=DOMAIN,
    codes=[
        sdk.Code(NOT_FOUND, "never", "the file or directory (or the files root) does not exist"),
        sdk.Code(PERMISSION_DENIED, "never", "the OS refused access"),
        sdk.Code(INVALID_PATH, "never", "the path leaves the files root, or is the wrong kind"),
        sdk.Code(IO, "backoff", "another OS failure (never: unencodable input, a short append)"),
    ],
    description="files under ORCHESTRATOR_BLOCKS_FILES_ROOT",
)
