"""DynamoDB's transaction rules for the embedded backend (moto), at the sizes the product allows,
and the one Cognito operation moto lacks that the web app calls.

moto's `TransactWriteItems` is right about outcomes and wrong about two things DynamoDB
documents, and every create, delete and clear of this project is a transaction:

- **Cost.** To roll back a cancelled transaction, moto deep-copies every table the
  transaction names, before applying it: time and memory grow with the table (a create
  took ~1 s at 10,000 stored todos, and the copies piled up faster than they were freed).
  Here only the items the transaction names are saved (at most 100, DynamoDB's limit per
  transaction) and, if it is cancelled, exactly those are put back. moto's own per-item
  logic still decides every outcome, so conditions, `CancellationReasons` (in order, with
  `ALL_OLD` items) and validation errors are moto's, and a failure anywhere leaves every
  item as it was.
- **Idempotency.** "If you call TransactWriteItems with the same ClientRequestToken within
  10 minutes of the first successful call ... subsequent calls return successfully without
  making any changes ... If you submit a request with the same client token but a change in
  other parameters within the 10-minute idempotency window, DynamoDB returns an
  IdempotentParameterMismatch exception." (DynamoDB API reference, TransactWriteItems,
  ClientRequestToken.) botocore sends one token on every attempt of a call, so a retry of
  a transaction that landed (its response lost to a read timeout) changes nothing. moto
  ignores the token; here it is honoured, per account and Region, as DynamoDB does.

And one more cost: moto answers a Query by sorting every item of the table (all owners'),
then keeping the partition's and sorting those again. A Query's answer depends only on the
second sort, so while a Query runs the first is skipped, and a Query of the table itself
reads only its partition, as DynamoDB does: a page of one user's list then costs a pass
over that user's todos (an index's Query, a pass over the table) instead of a sort of
every item (Scan keeps moto's order, on which its pagination relies).

And one operation moto's Cognito lacks (it answers 500): **ResendConfirmationCode**, which the
web app offers when a code never arrived. Here it answers as Cognito documents it: the code's
`CodeDeliveryDetails` for an unconfirmed user of the app client's pool,
`UserNotFoundException` for no such user, `InvalidParameterException` ("User is already
confirmed.") for a confirmed one (Cognito API reference, ResendConfirmationCode). It sends
nothing: the local pool takes any code.

And one more rule moto does not keep: **point-in-time recovery**. moto's
`RestoreTableToPointInTime` copies the source table as it is now, whatever time is asked, and its
`LatestRestorableDateTime` stays where it was when recovery was switched on. Here every write
request journals, as it ends, the items it touched as they then are (for tables created while
this is installed), and a restore replays that journal up to the time asked, into the new table,
as DynamoDB restores "to the state based on the selected date and time"; the latest restorable
time is now (DynamoDB's is "typically 5 minutes before the current time", API reference,
PointInTimeRecoveryDescription). `make restore`'s drill runs on it.

`install()` puts all of it into moto, once per process: the embedded backend of `make
run` and `make backend` and the in-process mock of the tests run the same code. Requests
that touch items are serialized (as the embedded backend serializes every request: moto
is not thread-safe).

Not shipped to Lambda: Chalice packages only app.py, chalicelib/ and requirements.txt.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

# DynamoDB's idempotency window for a ClientRequestToken (the API reference, above).
IDEMPOTENCY_WINDOW_SECONDS = 600

_lock = threading.RLock()
_inside = threading.local()  # set while this thread runs a transaction of ours
_installed = False


class _TablesShared:
    """Stands in for the `copy` module inside moto's DynamoDB models: while one of our
    transactions runs on this thread, a table is "copied" as itself (we keep our own, much
    smaller, backup); every other copy, on any thread, is the real one."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_inside, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Any]]:
    """Each item the transaction names, as it is now: (table, key, a copy of the item or None).
    An operation moto will refuse (no such table, no key) is skipped: it writes nothing."""
    from moto.core.exceptions import JsonRESTError

    saved = []
    for entry in transact_items:
        try:
            kind, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])
            if kind == "Put":
                names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
                key = {name: op["Item"][name] for name in names}
            else:
                key = op["Key"]
            item = backend.get_item(op["TableName"], key)
        except (JsonRESTError, KeyError, TypeError, StopIteration):
            continue  # moto refuses this operation itself, in its turn
        attributes = None if item is None else copy.deepcopy(item.to_json()["Attributes"])
        saved.append((op["TableName"], key, attributes))
    return saved


def _restore(backend: Any, saved: list[tuple[str, dict[str, Any], Any]]) -> None:
    for table_name, key, attributes in reversed(saved):
        if attributes is None:
            if backend.get_item(table_name, key) is not None:
                backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, attributes)


def _transact_write_items(original: Callable[..., None]) -> Callable[..., None]:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _lock:
            saved = _touched(self, transact_items)
            _inside.active = True
            try:
                original(self, transact_items)
            except BaseException:
                _restore(self, saved)  # cancelled or refused: every item as it was
                raise
            finally:
                _inside.active = False

    return transact_write_items


def _query_unsorted(original: Callable[..., Any]) -> Callable[..., Any]:
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's Table.query(hash_key, range_comparison, range_objs, limit,
        # exclusive_start_key, scan_index_forward, projection_expressions, index_name, ...)
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        _inside.querying = True
        _inside.partition = hash_key if index_name is None and self.range_key_attr else None
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            _inside.querying = False
            _inside.partition = None

    return query


def _all_items(original: Callable[..., Any]) -> Callable[..., Any]:
    def all_items(self: Any) -> Any:
        if not getattr(_inside, "querying", False):
            return original(self)
        # What moto's own all_items gathers, in storage order: Query sorts what it keeps.
        # A Query of the table itself reads one partition, as DynamoDB does (moto then
        # keeps those items of it whose key matches: all of them); of an index, them all.
        partition = getattr(_inside, "partition", None)
        if partition is not None:
            return list(self.items.get(partition, {}).values())
        if self.range_key_attr:
            return [item for partition in self.items.values() for item in partition.values()]
        return list(self.items.values())

    return all_items


class _Tokens:
    """The successful transactions' tokens of one account and Region, for the window."""

    def __init__(self) -> None:
        self.seen: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def forget_expired(self, now: float) -> None:
        while self.seen:
            token, (when, _) = next(iter(self.seen.items()))
            if now - when < IDEMPOTENCY_WINDOW_SECONDS:
                return
            del self.seen[token]


def _fingerprint(body: dict[str, Any]) -> str:
    """The request's parameters but its token: what "the same request" means."""
    rest = {name: value for name, value in body.items() if name != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()


def _idempotent(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

    def transact_write_items(handler: Any) -> Any:
        token = handler.body.get("ClientRequestToken")
        if not token:
            return original(handler)
        backend = handler.dynamodb_backend
        with _lock:
            tokens: _Tokens = backend.__dict__.setdefault("_todo_api_tokens", _Tokens())
            now = time.monotonic()
            tokens.forget_expired(now)
            fingerprint = _fingerprint(handler.body)
            if token in tokens.seen:
                if tokens.seen[token][1] != fingerprint:
                    raise DynamodbException(
                        ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
                        "Request with the same client token has different parameters",
                    )
                return _success()  # as the first call answered; nothing applied again
            result = original(handler)  # raises if cancelled: a failed call is not remembered
            tokens.seen[token] = (now, fingerprint)
            return result

    return transact_write_items


def _success() -> Any:
    from moto.core.responses import ActionResult

    # What moto answers for an applied transaction (it returns no consumed capacity).
    return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})


def _masked(address: str) -> str:
    """An address as Cognito shows it in CodeDeliveryDetails: its first letter, then ***."""
    name, _, domain = address.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


def _resend_confirmation_code(handler: Any) -> Any:
    from moto.cognitoidp.exceptions import InvalidParameterException, ResourceNotFoundError, UserNotFoundError
    from moto.cognitoidp.models import UserStatus, cognitoidp_backends
    from moto.core.responses import ActionResult

    client_id, username = handler._get_param("ClientId"), handler._get_param("Username")
    pools = (
        pool
        for backends in cognitoidp_backends.values()
        for region, backend in backends.items()
        if region != "global"
        for pool in backend.user_pools.values()
    )
    pool = next((p for p in pools if client_id in p.clients), None)
    if pool is None:
        raise ResourceNotFoundError(client_id)
    user = pool._get_user(username)
    if user is None:
        raise UserNotFoundError("Username/client id combination not found.")
    if user.status == UserStatus.CONFIRMED:
        raise InvalidParameterException("User is already confirmed.")
    address = user.attribute_lookup.get("email", "")
    details = {"Destination": _masked(address), "DeliveryMedium": "EMAIL", "AttributeName": "email"}
    return ActionResult({"CodeDeliveryDetails": details})


# --- point-in-time recovery ------------------------------------------------------------------

_WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")
# (account, Region, table) -> [(when, the item's key attributes, the item then or None)]
_journals: dict[tuple[str, str, str], list[tuple[float, dict[str, Any], dict[str, Any] | None]]] = {}


def _written(body: dict[str, Any], operation: str) -> list[tuple[str, dict[str, Any]]]:
    """The (table, key or item) pairs a write request names."""
    if operation in ("update_item", "delete_item"):
        return [(body["TableName"], body["Key"])]
    if operation == "put_item":
        return [(body["TableName"], body["Item"])]
    if operation == "batch_write_item":
        return [
            (table, request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"])
            for table, requests in body.get("RequestItems", {}).items()
            for request in requests
        ]
    touched = []
    for entry in body.get("TransactItems", []):
        for kind in ("Put", "Update", "Delete"):
            if kind in entry:
                touched.append((entry[kind]["TableName"], entry[kind].get("Key") or entry[kind].get("Item")))
    return touched


def _journaled(operation: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def write(handler: Any) -> Any:
        from moto.dynamodb.models.dynamo_type import DynamoType

        result = original(handler)
        backend = handler.dynamodb_backend
        when = time.time()
        for name, attributes in _written(handler.body, operation):
            journal = _journals.get((backend.account_id, backend.region_name, name))
            if journal is None:
                continue  # a table made before this was installed: not journaled
            table = backend.get_table(name)
            key = {k: attributes[k] for k in (table.hash_key_attr, table.range_key_attr) if k}
            found = table.get_item(*(DynamoType(key[k]) for k in key))
            journal.append((when, key, copy.deepcopy(found.to_json()["Attributes"]) if found else None))
        return result

    return write


def _journal_from_creation(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_table(handler: Any) -> Any:
        result = original(handler)
        backend = handler.dynamodb_backend
        _journals[(backend.account_id, backend.region_name, handler.body["TableName"])] = []
        return result

    return create_table


def _restore_to_point_in_time(original: Callable[..., Any]) -> Callable[..., Any]:
    def restore(handler: Any) -> Any:
        body, backend = handler.body, handler.dynamodb_backend
        journal = _journals.get((backend.account_id, backend.region_name, body["SourceTableName"]))
        asked = body.get("RestoreDateTime")
        at = time.time() if body.get("UseLatestRestorableTime") or asked is None else _epoch(asked)
        result = original(handler)  # the new table, with moto's copy of the source as it is now
        if journal is not None:
            state: dict[str, dict[str, Any] | None] = {}
            for when, key, item in journal:
                if when <= at:
                    state[json.dumps(key, sort_keys=True)] = item
            target = backend.get_table(body["TargetTableName"])
            target.items.clear()  # moto copied the source as it is now: replay instead
            for item in state.values():
                if item is not None:
                    target.put_item(item)
            _journals[(backend.account_id, backend.region_name, body["TargetTableName"])] = []
        return result

    return restore


def _epoch(value: Any) -> float:
    """A request's timestamp (moto hands it over parsed, or as the epoch seconds sent)."""
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _restorable_until_now(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(handler: Any) -> Any:
        table = handler.dynamodb_backend.tables.get(handler.body.get("TableName"))
        if table is not None:
            recovery = table.continuous_backups["PointInTimeRecoveryDescription"]
            if recovery.get("PointInTimeRecoveryStatus") == "ENABLED":
                recovery["LatestRestorableDateTime"] = time.time()
        return original(handler)

    return describe


def install() -> None:
    """The rules into moto's DynamoDB and the missing operation into its Cognito, for this
    process (again: nothing more)."""
    global _installed
    with _lock:
        if _installed:
            return
        import moto.dynamodb.models as models
        from moto.cognitoidp.responses import CognitoIdpResponse
        from moto.dynamodb.models.table import Table
        from moto.dynamodb.responses import DynamoHandler

        models.copy = _TablesShared()  # type: ignore[attr-defined,assignment]
        models.DynamoDBBackend.transact_write_items = _transact_write_items(  # type: ignore[method-assign]
            models.DynamoDBBackend.transact_write_items
        )
        DynamoHandler.transact_write_items = _idempotent(DynamoHandler.transact_write_items)  # type: ignore[method-assign]
        for operation in _WRITES:
            setattr(DynamoHandler, operation, _journaled(operation, getattr(DynamoHandler, operation)))
        DynamoHandler.create_table = _journal_from_creation(DynamoHandler.create_table)  # type: ignore[method-assign]
        DynamoHandler.restore_table_to_point_in_time = _restore_to_point_in_time(  # type: ignore[method-assign]
            DynamoHandler.restore_table_to_point_in_time
        )
        DynamoHandler.describe_continuous_backups = _restorable_until_now(  # type: ignore[method-assign]
            DynamoHandler.describe_continuous_backups
        )
        Table.query = _query_unsorted(Table.query)  # type: ignore[method-assign]
        Table.all_items = _all_items(Table.all_items)  # type: ignore[method-assign]
        CognitoIdpResponse.resend_confirmation_code = _resend_confirmation_code  # type: ignore[attr-defined]
        _installed = True
