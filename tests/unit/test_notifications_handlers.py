"""Notifications' command side on the one handler contract, with an in-memory repository (no PostgreSQL):
webhook create (cap, idempotency, secret conflicts, destination policy), the scope rule shared by reads and
writes, rotation, unsubscribe links. tests/integration and tests/security prove the SQL and HTTP."""

from __future__ import annotations

import uuid

import pytest

from services.notifications import handlers
from services.notifications.domain import unsubscribe as links
from services.notifications.domain.destinations import DestinationRefused
from shared.errors import Conflict, NotFound, RuleBroken
from shared.unit_of_work import Caller
from tests.support.fakes import FakeUnitOfWork
from tests.support.notifications import FakeRepository

SAXONY = Caller("saxony", "partner", "k-saxony")
GAIA = Caller("gaia", "partner", "k-gaia")
COORDINATOR = Caller("programme", "coordinator", "k-coord")
OPS = Caller("programme", "ops", "k-ops")
URL = "https://partner.example/hooks"
SECRET = "a-long-enough-shared-secret"


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeRepository(), SAXONY)


def create(url=URL, types=("exchange.approved",), secret=None, key=None):
    return handlers.CreateWebhook(url, sorted(types), secret, key)


async def test_a_created_hook_belongs_to_the_partners_cluster_and_shows_its_generated_secret_once(uow):
    created = await handlers.create_webhook(uow, create(), cap=5)
    assert created.new and created.webhook.cluster_id == "saxony"
    assert created.secret is not None and created.secret.startswith("whsec_")
    again = await handlers.create_webhook(uow, create(), cap=5)
    assert not again.new and again.webhook.id == created.webhook.id and again.secret is None
    assert created.secret not in repr(created.webhook)


async def test_a_coordinators_hook_hears_every_cluster(uow):
    created = await handlers.create_webhook(uow.as_(COORDINATOR), create(), cap=5)
    assert created.webhook.cluster_id is None


async def test_the_cap_counts_per_cluster(uow):
    for n in range(2):
        await handlers.create_webhook(uow, create(url=f"{URL}/{n}"), cap=2)
    with pytest.raises(Conflict) as capped:
        await handlers.create_webhook(uow, create(url=f"{URL}/3"), cap=2)
    assert capped.value.kind == "webhook-limit-reached" and "2 webhooks" in capped.value.detail
    assert (await handlers.create_webhook(uow.as_(GAIA), create(url=f"{URL}/3"), cap=2)).new


async def test_the_same_hook_with_another_secret_is_a_conflict(uow):
    await handlers.create_webhook(uow, create(secret=SECRET), cap=5)
    assert not (await handlers.create_webhook(uow, create(secret=SECRET), cap=5)).new
    with pytest.raises(Conflict) as other:
        await handlers.create_webhook(uow, create(secret=SECRET + "-other"), cap=5)
    assert other.value.kind == "conflict" and "rotate its secret" in other.value.detail
    assert SECRET not in other.value.detail


async def test_an_idempotency_key_answers_the_first_result_and_refuses_another_request(uow):
    first = await handlers.create_webhook(uow, create(key="k1"), cap=5)
    retried = await handlers.create_webhook(uow, create(key="k1"), cap=5)
    assert retried.webhook.id == first.webhook.id and retried.secret == first.secret and not retried.new
    with pytest.raises(RuleBroken) as reused:
        await handlers.create_webhook(uow, create(url=URL + "/x", key="k1"), cap=5)
    assert reused.value.kind == "idempotency-key-reused" and reused.value.status == 422
    assert reused.value.title == "Unprocessable Entity" and "errors" not in reused.value.extra


async def test_a_refused_destination_is_a_rule_naming_the_url_field():
    async def refuse(url):
        raise DestinationRefused("the address 10.0.0.1 is private")

    async def allow(url):
        return None

    await handlers.vet_destination(allow, URL)
    with pytest.raises(RuleBroken) as refused:
        await handlers.vet_destination(refuse, "https://10.0.0.1/")
    assert refused.value.kind == "webhook-destination-refused"
    assert refused.value.detail == "The webhook URL is not allowed: the address 10.0.0.1 is private"
    assert refused.value.extra["errors"] == [
        {"field": "url", "message": "the address 10.0.0.1 is private", "type": "destination"}]


async def test_another_clusters_hook_does_not_exist_for_reading_deleting_or_rotating(uow):
    hook = (await handlers.create_webhook(uow, create(), cap=5)).webhook
    other = uow.as_(GAIA)
    assert await handlers.webhooks_of(other) == []
    for attempt in (handlers.webhook(other, hook.id), handlers.delete_webhook(other, hook.id),
                    handlers.rotate_secret(other, hook.id, None, overlap_s=60)):
        with pytest.raises(NotFound, match=f"No webhook {hook.id}"):
            await attempt
    assert uow.repo.hooks[hook.id]["webhook"] == hook, "untouched"
    for caller in (COORDINATOR, OPS):
        assert await handlers.webhook(uow.as_(caller), hook.id) == hook
    assert [h.id for h in await handlers.webhooks_of(uow)] == [hook.id]


async def test_rotation_shows_only_a_generated_secret_and_keeps_the_old_one_for_the_overlap(uow):
    hook = (await handlers.create_webhook(uow, create(), cap=5)).webhook
    rotated, shown = await handlers.rotate_secret(uow, hook.id, None, overlap_s=60)
    assert shown is not None and shown.startswith("whsec_") and rotated.secret == shown
    assert rotated.previous_secret_until is not None
    rotated, shown = await handlers.rotate_secret(uow, hook.id, SECRET, overlap_s=60)
    assert shown is None and rotated.secret == SECRET


async def test_deleting_a_hook_cancels_what_was_planned_for_it(uow):
    hook = (await handlers.create_webhook(uow, create(), cap=5)).webhook
    await handlers.delete_webhook(uow, hook.id)
    assert uow.repo.hooks == {} and uow.repo.cancelled == [str(hook.id)]
    with pytest.raises(NotFound):
        await handlers.delete_webhook(uow, hook.id)


async def test_deliveries_are_read_in_the_same_scope(uow):
    event = uuid.uuid4()
    uow.repo.delivery_rows = [{"recipient": "p1", "event_id": event, "cluster_id": "saxony"},
                              {"recipient": "p2", "event_id": event, "cluster_id": "gaia"},
                              {"recipient": "hook", "event_id": event, "cluster_id": None}]
    assert [d["recipient"] for d in await handlers.deliveries(uow, recipient=None, event_id=None)] == ["p1"]
    every = await handlers.deliveries(uow.as_(OPS), recipient=None, event_id=event)
    assert [d["recipient"] for d in every] == ["p1", "p2", "hook"]


async def test_only_a_valid_signed_link_unsubscribes(uow):
    link = uow.as_(handlers.SIGNED_LINK)
    pid = str(uuid.uuid4())
    with pytest.raises(NotFound, match="Unknown or invalid unsubscribe link"):
        await handlers.unsubscribe(link, pid, links.token("secret", str(uuid.uuid4())), signing_secret="secret")
    assert uow.repo.unsubscribed == set()
    await handlers.unsubscribe(link, pid, links.token("secret", pid), signing_secret="secret")
    assert uow.repo.unsubscribed == {pid}
