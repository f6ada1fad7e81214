"""Every action_id, callback_id and block_id the bot sends, defined once.

Handlers match on these and block builders emit them, so a rename cannot leave a button dead.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    CONNECT_PICK_BACKEND = "connect.pick_backend"
    CONNECT_OPEN = "connect.open"
    DISCONNECT = "accounts.disconnect"
    # Buttons on a ticket message; the value is the ticket ref.
    TICKET_SHOW = "ticket.show"
    TICKET_COMMENT = "ticket.comment"
    TICKET_STATUS = "ticket.status"
    TICKET_PRIORITY = "ticket.priority"
    TICKET_TAGS = "ticket.tags"
    TICKET_CLOSE = "ticket.close"
    TICKET_REOPEN = "ticket.reopen"
    TICKET_DELETE = "ticket.delete"
    TICKET_WATCH = "ticket.watch"
    TICKET_UNWATCH = "ticket.unwatch"
    # `/ticket watching`: Unwatch on a row (the value is {"r": ref, "o": page offset} as JSON)
    # and paging (the value is the offset).
    WATCHING_UNWATCH = "watching.unwatch"
    WATCHING_PAGE = "watching.page"
    # The ticket message's overflow menu; each option's value is "<what>|<ticket ref>".
    TICKET_MORE = "ticket.more"
    # Paging a /ticket list result; the value is the query as JSON.
    LIST_PAGE = "list.page"
    # The confirmation before a delete; the value is the refs.
    DELETE_CONFIRM = "delete.confirm"
    DELETE_CANCEL = "delete.cancel"
    SOLVE_UNFINISHED_CONFIRM = "solve_unfinished.confirm"
    # Detractor alerts; the value is "<subscription id>:<ticketID>".
    ALERT_CLAIM = "alert.claim"
    ALERT_ESCALATE = "alert.escalate"
    ALERT_RESOLVE = "alert.resolve"
    ALERT_OPEN = "alert.open"
    ALERT_CONTACT = "alert.contact"  # pii:masked: the full contact, to the clicker alone
    ALERTS_SHOW_EXISTING = "alerts.show_existing"
    UNSUBSCRIBE = "alerts.unsubscribe"
    # Transactions import; the value is the import job id.
    IMPORT_CONFIRM = "import.confirm"
    IMPORT_CANCEL = "import.cancel"
    IMPORT_RETRY = "import.retry"
    CANCEL = "cancel"
    # App Home: the value is the backend (connect, disconnect) or the subscription id.
    HOME_CONNECT = "home.connect"
    HOME_DISCONNECT = "home.disconnect"
    HOME_PAUSE = "home.pause"
    HOME_RESUME = "home.resume"
    HOME_UNSUBSCRIBE = "home.unsubscribe"
    # "Watch the tickets I create" on Home; the value is the new setting, "on" or "off".
    HOME_WATCH_CREATED = "home.watch_created"
    # Paging /ticket audit; the value is the selection and the offset to show.
    AUDIT_NEWER = "audit.newer"
    AUDIT_OLDER = "audit.older"
    # The create modal.
    CREATE_PICK_BACKEND = "create.pick_backend"
    CATEGORY_OPTIONS = "create.category"
    TAG_OPTIONS = "tags.options"


class Callback(StrEnum):
    CONNECT = "connect.submit"
    CREATE = "create.submit"
    COMMENT = "comment.submit"
    STATUS = "status.submit"
    PRIORITY = "priority.submit"
    TAGS = "tags.submit"
    RESOLVE = "alert.resolve.submit"
    IMPORT = "import.submit"
    # The message shortcut, as named in manifest.yml.
    CREATE_FROM_MESSAGE = "create_ticket_from_message"


class Block(StrEnum):
    CONNECT_BACKEND = "connect_backend"
    CONNECT_NOTICE = "connect_notice"
    CREATE_BACKEND = "create_backend"
    NOTICE = "notice"


# Inputs carry this action_id; the block_id (the field's name) says which field it is.
FIELD_ACTION = "value"
