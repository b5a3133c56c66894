"""A short scripted flow with the clients generated from the committed specs
(scripts/client-test.sh): what a Python user of Ledgerline writes."""

import os
import uuid

from ledgerline_command import AuthenticatedClient as CommandClient
from ledgerline_command.api.accounts import deposit, open_account, withdraw
from ledgerline_command.models import Accepted, MoneyBody, OpenAccountBody, OpenAccountBodyCurrency, Problem
from ledgerline_query import AuthenticatedClient as QueryClient
from ledgerline_query.api.accounts import get_account
from ledgerline_query.models import Account

token = os.environ["LEDGER_TOKEN"]
commands = CommandClient(base_url=os.environ["LEDGER_COMMAND_URL"], token=token)
reads = QueryClient(base_url=os.environ["LEDGER_QUERY_URL"], token=token)

opened = open_account.sync_detailed(
    client=commands, body=OpenAccountBody(currency=OpenAccountBodyCurrency.EUR), idempotency_key=str(uuid.uuid4())
)
assert opened.status_code == 201, opened
assert isinstance(opened.parsed, Accepted), opened.parsed
account = opened.parsed.account_id
print(f"open     -> 201 {type(opened.parsed).__name__} account {account}, version {opened.parsed.version}")

deposited = deposit.sync(client=commands, id=account, body=MoneyBody(amount=1500, reference="salary"))
assert isinstance(deposited, Accepted), deposited
print(f"deposit  -> {type(deposited).__name__} version {deposited.version}, token {deposited.consistency_token}")

refused = withdraw.sync_detailed(client=commands, id=account, body=MoneyBody(amount=1_000_000))
assert refused.status_code == 409, refused
assert isinstance(refused.parsed, Problem), refused.parsed
assert refused.parsed.code == "insufficient_funds", refused.parsed
print(f"withdraw -> 409 {type(refused.parsed).__name__} code={refused.parsed.code}: {refused.parsed.detail}")

read = get_account.sync(client=reads, id=account, consistency_token=deposited.consistency_token)
assert isinstance(read, Account), read
assert read.balance == 1500 and read.version == deposited.version, read
print(f"read     -> {type(read).__name__} balance {read.balance}, version {read.version} (read with the token)")
print("the generated clients work: one Accepted, one Problem and one Account type")
