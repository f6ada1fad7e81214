"""Every action_id, callback_id and block_id the bot sends, defined once.

Handlers match on these and block builders emit them, so a rename cannot leave a button dead.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    CONNECT_PICK_BACKEND = "connect.pick_backend"
    CONNECT_OPEN = "connect.open"
    DISCONNECT = "accounts.disconnect"


class Callback(StrEnum):
    CONNECT = "connect.submit"


class Block(StrEnum):
    CONNECT_BACKEND = "connect_backend"
    CONNECT_NOTICE = "connect_notice"


# Inputs carry this action_id; the block_id (the field's name) says which field it is.
FIELD_ACTION = "value"
