"""Headteacher approval (policy 8.1.8): nothing from a watched folder is published until a named
person approves it. See ``docs/review.md``.

Layered above the pipeline and the watcher (it reads the watcher's journal and re-renders through
the public ``Anonymiser`` API), below the CLI. ``desk`` holds every decision; ``web`` is the
HTTP face of it; ``users`` the accounts.
"""

from __future__ import annotations

from anonymiser.approval.desk import Item, ItemState, Queue, ReviewDesk, TakeDown, item_dict
from anonymiser.approval.errors import ReviewError
from anonymiser.approval.users import MIN_PASSWORD, Role, User, UserStore

__all__ = [
    "MIN_PASSWORD",
    "Item",
    "ItemState",
    "Queue",
    "ReviewDesk",
    "ReviewError",
    "Role",
    "TakeDown",
    "User",
    "UserStore",
    "item_dict",
]
