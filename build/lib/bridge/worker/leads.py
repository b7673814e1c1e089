"""The lead a request may create when Intercom has no contact for its person, once per person.

A signup names someone Intercom may never have seen, and its request carries leave to create
them (`ConsentRequest.create`). When no contact matches, the applier creates a lead with the
identity's email and phone and the name given, then applies the request to it. One person
never gets two leads:

* a person's requests are claimed one at a time (one lease per identity key), so of two
  racing submissions the second starts only once the first has settled;
* in the same process the contact resolver remembers the lead the first one made, because
  Intercom's search lags creation by minutes (`ContactResolver.remember`);
* in another process, or after a crash between the create and its record, the create answers
  409 naming the contact already there, and that contact is taken.
"""

from __future__ import annotations

from bridge.consent import ConsentRequest, NewContact
from bridge.intercom.client import ContactExists, IntercomClient
from bridge.ledger import Outcome

CREATE = "create"  # the outcome's action; it concerns no subscription type, so type_id is ""
CREATED = "lead created"  # the detail of an outcome whose lead this request made


def may_create(request: ConsentRequest) -> bool:
    """Whether the request may create its person's lead: it says so, and has an email or phone."""
    identity = request.identity
    return request.create is not None and bool(identity.email or identity.phone)


async def create_lead(intercom: IntercomClient, request: ConsentRequest) -> Outcome:
    """Create the request's lead, or find the contact a 409 names; the outcome names either."""
    identity, new = request.identity, request.create or NewContact()
    try:
        created = await intercom.create_contact(
            email=identity.email, phone=identity.phone, name=new.name
        )
    except ContactExists as exc:
        there = "an archived contact" if exc.archived else "a contact"
        detail = f"{there} with these details exists"
        return Outcome(exc.existing_id, "", CREATE, exc.status, exc.request_id, detail)
    return Outcome(created.id, "", CREATE, created.status, created.request_id, CREATED)


def made_new(outcome: Outcome) -> bool:
    """Whether the outcome's lead was made just now, so its subscription list is empty."""
    return outcome.action == CREATE and outcome.detail == CREATED
