"""Contact groups: named sets of an account's contacts. A membership change is a change of the
contact (a new version), so CRM sync clients see it; deleting a group changes every member."""

from __future__ import annotations

import builtins
import uuid as uuidlib

from callbridge.accounts.models import Account
from callbridge.contacts import models as m
from callbridge.contacts.rules import GROUP_NOT_FOUND, contact_of, not_found, stored_uuid
from callbridge.contacts.store import ContactStore
from callbridge.contacts.writes import AccountWrites
from callbridge.errors import Conflict
from callbridge.timeutil import utc_now_iso


class GroupService:
    def __init__(self, store: ContactStore, writes: AccountWrites):
        self.store = store
        self.writes = writes

    async def list(self, account: Account) -> builtins.list[m.Group]:
        return [m.Group.model_validate(g) for g in await self.store.list_groups(account.id)]

    async def create(self, account: Account, body: m.GroupCreate) -> m.Created:
        new_uuid = str(uuidlib.uuid4())
        async with self.writes.transaction(account) as tx:
            if await self.store.group_name_taken(tx, account.id, body.name):
                raise Conflict(f"a group named {body.name!r} already exists",
                               error="Group already exists", field="name")
            version = await self.store.next_versions(tx, account.id)
            await self.store.insert_group(tx, account.id, new_uuid, body.name, version, utc_now_iso())
        return m.Created(uuid=new_uuid)

    async def delete(self, account: Account, group_uuid: str) -> m.GroupDeleted:
        async with self.writes.transaction(account) as tx:
            group_id = await self.store.tx_group_id(tx, account.id, stored_uuid(group_uuid))
            if group_id is None:
                raise not_found(GROUP_NOT_FOUND)
            members = await self.store.group_members(tx, group_id)
            deleted = await self.store.delete_group(tx, group_id)  # memberships cascade
            if members:
                # Each former member changed (its groups did): sync clients must see it.
                first = await self.store.next_versions(tx, account.id, len(members))
                await self.store.set_version(tx, members, first, utc_now_iso())
        return m.GroupDeleted(deleted=deleted)

    async def members(self, account: Account, group_uuid: str) -> builtins.list[m.Contact]:
        group_id = await self.store.group_id(account.id, stored_uuid(group_uuid))
        if group_id is None:
            raise not_found(GROUP_NOT_FOUND)
        return [contact_of(d) for d in await self.store.in_group(group_id)]

    async def add_member(self, account: Account, body: m.Membership) -> m.MembershipAdded:
        async with self.writes.transaction(account) as tx:
            contact_id, group_id = await self._membership_ends(tx, account, body)
            existing = await self.store.membership_id(tx, contact_id, group_id)
            if existing is not None:  # already a member: idempotent, nothing changes
                return m.MembershipAdded(id=existing)
            membership = await self.store.add_membership(tx, contact_id, group_id)
            version = await self.store.next_versions(tx, account.id)
            await self.store.set_version(tx, [contact_id], version, utc_now_iso())
        return m.MembershipAdded(id=membership)

    async def remove_member(self, account: Account, body: m.Membership) -> m.MembershipRemoved:
        async with self.writes.transaction(account) as tx:
            contact_id, group_id = await self._membership_ends(tx, account, body)
            changes = await self.store.remove_membership(tx, contact_id, group_id)
            if changes:
                version = await self.store.next_versions(tx, account.id)
                await self.store.set_version(tx, [contact_id], version, utc_now_iso())
        return m.MembershipRemoved(changes=changes)

    async def _membership_ends(self, tx, account: Account, body: m.Membership) -> tuple[int, int]:
        contact_id = await self.store.tx_contact_id(tx, account.id, stored_uuid(body.fk_contact_uuid))
        if contact_id is None:
            raise not_found()
        group_id = await self.store.tx_group_id(tx, account.id, stored_uuid(body.fk_group_uuid))
        if group_id is None:
            raise not_found(GROUP_NOT_FOUND)
        return contact_id, group_id
