"""Give up root once the capture sockets are open.

Opening an AF_PACKET socket needs CAP_NET_RAW; reading it afterwards does not. So a live
capture opens its sockets as root and then becomes an ordinary user for the rest of its
life: everything after that - every decoder and dissector reading attacker-controlled
bytes - runs without privileges.
"""

from __future__ import annotations

import os
import pwd

from detector.errors import InputError


def drop_privileges(user: str) -> None:
    """Become ``user`` for good: no supplementary groups, then its group, then its user
    id (in that order: after setuid the other two are no longer allowed). Checked by
    trying to get root back, which must fail."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise InputError(f"{user}: no such user") from None
    try:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except PermissionError:
        raise InputError(f"cannot become {user}: not running as root") from None
    if entry.pw_uid != 0:
        try:
            os.setuid(0)
        except PermissionError:
            return
        raise InputError(f"cannot become {user}: root could be regained")
