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
from ledgerline_webhooks import AuthenticatedClient as WebhooksClient
from ledgerline_webhooks.api.webhooks import create_webhook_endpoint, delete_webhook_endpoint, get_webhook_endpoint
from ledgerline_webhooks.models import CreatedEndpoint, EndpointView, NewEndpointBody
from ledgerline_webhooks.models import NewEndpointBodyEventTypesType0Item as MessageType
from ledgerline_webhooks.models import Problem as WebhooksProblem

token = os.environ["LEDGER_TOKEN"]
commands = CommandClient(base_url=os.environ["LEDGER_COMMAND_URL"], token=token)
reads = QueryClient(base_url=os.environ["LEDGER_QUERY_URL"], token=token)
hooks = WebhooksClient(base_url=os.environ["LEDGER_WEBHOOKS_URL"], token=token)

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
created = create_webhook_endpoint.sync_detailed(
    client=hooks,
    body=NewEndpointBody(url="http://127.0.0.1:9/hook", event_types=[MessageType.TRANSFER_COMPLETED], description="books"),
)
assert created.status_code == 201 and isinstance(created.parsed, CreatedEndpoint), created
assert created.parsed.secret.startswith("whsec_"), created.parsed
print(f"webhook  -> 201 {type(created.parsed).__name__} {created.parsed.id}, secret whsec_…")
seen = get_webhook_endpoint.sync(client=hooks, id=str(created.parsed.id))
assert isinstance(seen, EndpointView) and seen.enabled and seen.event_types == ["transfer.completed"], seen
private = create_webhook_endpoint.sync_detailed(client=hooks, body=NewEndpointBody(url="https://10.0.0.1/hook"))
assert private.status_code == 422 and isinstance(private.parsed, WebhooksProblem), private
assert private.parsed.code == "url_address_refused", private.parsed
print(f"webhook  -> 422 {type(private.parsed).__name__} code={private.parsed.code}: {private.parsed.detail}")
assert delete_webhook_endpoint.sync_detailed(client=hooks, id=str(created.parsed.id)).status_code == 204
print("the generated clients work: Accepted, Problem, Account, CreatedEndpoint and EndpointView types")
