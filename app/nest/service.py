"""The Nest service: what the views, the web pages and the CLI call.

The logic lives by concern beside this module (``identity``, ``entrykeys``, ``buckets``,
``owners``, ``transport``, ``ownership``, ``housekeeping``); this module names the public
surface so callers depend on one place. Everything that must survive a restart is in the
database; wake-ups are queued on the session and sent when it commits.
"""

from __future__ import annotations

from app.clock import now_ms
from app.nest.buckets import TooManyObjects, check_object_count, wire
from app.nest.contract import (
    BATCH_WINDOW_SECONDS,
    BUCKET_TYPES,
    ENTRY_ALPHABET,
    ENTRY_LENGTH,
    MAX_HELD_PER_DEVICE,
    MAX_KEY_LENGTH,
    SERIAL_PATH_RE,
    SERIAL_PATTERN,
)
from app.nest.entrykeys import entry_key, key_status
from app.nest.housekeeping import sweep, sweep_interval, sweep_step
from app.nest.identity import identify_serial, sanitize_serial, touch_device
from app.nest.owners import devices_of, owner_keys, owner_of, structure_id
from app.nest.ownership import (
    ClaimError,
    claim,
    list_devices,
    possible_user_id,
    registered_devices,
    unregister,
    validate_claim,
)
from app.nest.transport import (
    Listed,
    Subscription,
    hold_seconds,
    parse_listed,
    put,
    valid_key,
    wants_immediate_action,
)

__all__ = [
    "BATCH_WINDOW_SECONDS",
    "BUCKET_TYPES",
    "ENTRY_ALPHABET",
    "ENTRY_LENGTH",
    "MAX_HELD_PER_DEVICE",
    "MAX_KEY_LENGTH",
    "SERIAL_PATH_RE",
    "SERIAL_PATTERN",
    "ClaimError",
    "Listed",
    "Subscription",
    "TooManyObjects",
    "check_object_count",
    "claim",
    "devices_of",
    "entry_key",
    "hold_seconds",
    "identify_serial",
    "key_status",
    "list_devices",
    "now_ms",
    "owner_keys",
    "owner_of",
    "parse_listed",
    "possible_user_id",
    "put",
    "registered_devices",
    "sanitize_serial",
    "structure_id",
    "sweep",
    "sweep_interval",
    "sweep_step",
    "touch_device",
    "unregister",
    "valid_key",
    "validate_claim",
    "wants_immediate_action",
    "wire",
]
