"""DynamoDB's documented transaction rules, as the embedded backend (and every test) keeps
them: all or nothing with the reasons in order, and a ClientRequestToken honoured for ten
minutes (DynamoDB API reference, TransactWriteItems)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import TABLE

TOKEN = "a-token-botocore-would-send-on-every-attempt"


def key(name: str) -> dict[str, Any]:
    return {"owner": {"S": "someone"}, "id": {"S": name}}


def put(name: str, **extra: Any) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {**key(name), "n": {"N": "1"}}, **extra}}


def add_one(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(name),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            **extra,
        }
    }


def stored(dynamodb: Any) -> dict[str, int]:
    items = dynamodb.scan(TableName=TABLE)["Items"]
    return {item["id"]["S"]: int(item["n"]["N"]) for item in items}


@pytest.fixture
def table(dynamodb: Any) -> Any:
    keys = {a["AttributeName"] for a in dynamodb.describe_table(TableName=TABLE)["Table"]["KeySchema"]}
    assert keys == {"owner", "id"}, "these tests name the table's keys"
    return dynamodb


def test_a_repeated_token_answers_success_and_changes_nothing(table: Any) -> None:
    items = [put("a"), add_one("counter")]
    table.transact_write_items(TransactItems=items, ClientRequestToken=TOKEN)
    again = table.transact_write_items(TransactItems=items, ClientRequestToken=TOKEN)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert stored(table) == {"a": 1, "counter": 1}  # applied once
    table.transact_write_items(TransactItems=items, ClientRequestToken="another")
    assert stored(table) == {"a": 1, "counter": 2}  # a new token is a new request


def test_the_same_token_with_other_items_is_a_mismatch(table: Any) -> None:
    table.transact_write_items(TransactItems=[add_one("counter")], ClientRequestToken=TOKEN)
    with pytest.raises(ClientError) as refused:
        table.transact_write_items(TransactItems=[add_one("other")], ClientRequestToken=TOKEN)
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert stored(table) == {"counter": 1}


def test_a_cancelled_transaction_leaves_every_item_and_its_token_unused(table: Any) -> None:
    table.put_item(TableName=TABLE, Item={**key("kept"), "n": {"N": "5"}})
    fails = {
        "ConditionExpression": "attribute_not_exists(id)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    items = [put("new"), add_one("kept", **fails), add_one("counter")]
    with pytest.raises(ClientError) as cancelled:
        table.transact_write_items(TransactItems=items, ClientRequestToken=TOKEN)
    reasons = cancelled.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "None"]
    assert reasons[1]["Item"]["n"] == {"N": "5"}
    assert stored(table) == {"kept": 5}  # "new" and "counter" were written, then undone
    # DynamoDB remembers a token of a successful call only: the retry is evaluated again.
    table.delete_item(TableName=TABLE, Key=key("kept"))
    table.transact_write_items(TransactItems=items, ClientRequestToken=TOKEN)
    assert stored(table) == {"new": 1, "kept": 1, "counter": 1}


def test_a_refused_transaction_undoes_the_items_it_wrote_before_the_refusal(table: Any) -> None:
    table.put_item(TableName=TABLE, Item={**key("b"), "n": {"N": "7"}})
    # Two operations on one item: moto notices at the third, after writing the first two.
    with pytest.raises(ClientError) as refused:
        table.transact_write_items(TransactItems=[put("a"), add_one("b"), add_one("a")])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert stored(table) == {"b": 7}


def test_a_table_backup_is_still_a_copy(table: Any) -> None:
    """Only a transaction's own backup skips the copy; moto's table backups still copy."""
    table.put_item(TableName=TABLE, Item={**key("a"), "n": {"N": "1"}})
    arn = table.create_backup(TableName=TABLE, BackupName="before")["BackupDetails"]["BackupArn"]
    table.transact_write_items(TransactItems=[add_one("a")])
    table.delete_table(TableName=TABLE)
    table.restore_table_from_backup(TargetTableName=TABLE, BackupArn=arn)
    assert stored(table) == {"a": 1}
