"""HTTP for webhooks: POST/GET /webhooks, DELETE /webhooks/{id}, POST /webhooks/{id}/test,
GET /webhooks/{id}/deliveries. Each account sees and manages only its own."""

from __future__ import annotations

from aiohttp import web

from callbridge.accounts.http import account_of
from callbridge.scopes import Scope
from callbridge.web.middleware import actor_of
from callbridge.web.routing import RouteTable, json_ok, parse_body, parse_model
from callbridge.webhooks import models as m
from callbridge.webhooks.sender import WebhookSender
from callbridge.webhooks.service import WebhookService

SERVICE = web.AppKey("webhook_service", WebhookService)
SENDER = web.AppKey("webhook_sender", WebhookSender)
routes = RouteTable("webhooks")


@routes.route("POST", "/webhooks", scope=Scope.WEBHOOKS_MANAGE,
              summary="Subscribe a URL to call events (the secret is"
              " shown once)", body=m.WebhookCreate, response=m.WebhookCreated, errors=(409,))
async def create(request):
    """Subscribes a URL to event types; the signing secret (Standard Webhooks, whsec_…) is in
    this answer only. Non-public targets are refused unless the operator allows them.
    """
    body = await parse_body(request, m.WebhookCreate)
    return json_ok(await request.app[SERVICE].create(account_of(request), body,
                                                     actor_of(request)), status=201)


@routes.route("GET", "/webhooks", scope=Scope.WEBHOOKS_MANAGE,
              summary="This account's webhooks", response=list[m.Webhook])
async def list_webhooks(request):
    """The account's webhooks, enabled or disabled (with why); never their secrets."""
    return json_ok(await request.app[SERVICE].list(account_of(request)), as_type=list[m.Webhook])


@routes.route("DELETE", "/webhooks/{id}", scope=Scope.WEBHOOKS_MANAGE,
              summary="Remove a webhook and its pending deliveries",
              response=m.Deleted, errors=(404,))
async def delete(request):
    """Removes a webhook and its pending deliveries."""
    return json_ok(await request.app[SERVICE].delete(account_of(request),
                                                     request.match_info["id"], actor_of(request)))


@routes.route("POST", "/webhooks/{id}/enable", scope=Scope.WEBHOOKS_MANAGE,
              summary="Turn a disabled webhook back on",
              response=m.Webhook, errors=(404,))
async def enable(request):
    """Turns an endpoint that was disabled (after a day of failed deliveries) back on, once it
    is fixed: events from now on reach it again. Enabling an enabled webhook changes nothing."""
    return json_ok(await request.app[SERVICE].enable(account_of(request),
                                                     request.match_info["id"]))


@routes.route("POST", "/webhooks/{id}/test", scope=Scope.WEBHOOKS_MANAGE,
              summary="Queue a signed webhook.test delivery",
              response=m.TestQueued, errors=(404, 409))
async def send_test(request):
    """Queues a signed webhook.test delivery to this endpoint, through the same durable outbox
    as events.
    """
    return json_ok(await request.app[SERVICE].send_test(account_of(request),
                                                        request.match_info["id"]))


@routes.route("GET", "/webhooks/{id}/deliveries", scope=Scope.WEBHOOKS_MANAGE,
              summary="Recent deliveries, newest first",
              response=list[m.Delivery], query=m.DeliveriesQuery, errors=(404,))
async def deliveries(request):
    """The endpoint's deliveries, newest first: status, attempts, last HTTP status, error, the
    start of the answer, time taken and the next try.
    """
    q = parse_model(m.DeliveriesQuery, dict(request.query))
    return json_ok(await request.app[SERVICE].deliveries(account_of(request),
                                                         request.match_info["id"], q),
                   as_type=list[m.Delivery])
