"""Give up root once the capture is open, as Suricata's ``--user`` and tcpdump's ``-Z`` do.

A capture socket needs root (or CAP_NET_RAW) only to be opened; everything after it -
parsing hostile packets above all - runs better as an unprivileged user. Supplementary
groups go first, then the group, then the user (the other order would leave root's
groups, or be refused once the user id is gone).
"""

from __future__ import annotations

import os
import pwd

from detector.errors import InputError


def drop_privileges(user: str) -> None:
    """Become ``user`` (its primary group, no supplementary groups); InputError when the
    user does not exist or the switch is refused."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise InputError(f"--user {user}: no such user") from None
    try:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except PermissionError:
        raise InputError(f"--user {user}: cannot switch user (not root)") from None
    if os.getuid() != entry.pw_uid or os.geteuid() != entry.pw_uid:
        raise InputError(f"--user {user}: the switch did not take")
