"""Why a record did not go through, in the words of the person who owns the fix."""
from __future__ import annotations

from dataclasses import dataclass

from .models import Team


@dataclass(frozen=True)
class Reason:
    code: str
    title: str
    message: str
    what_to_do: str
    owner: str


_REASONS = [
    Reason("missing_email", "No email address",
           "The customer has no email address in the ERP, so no contact can be created.",
           "Add the email address to the Business Partner in SAP, then press Retry.",
           Team.MARKETING),
    Reason("invalid_email", "Invalid email address",
           "The email address in the ERP is not a valid address.",
           "Correct the email address on the Business Partner in SAP, then press Retry.",
           Team.MARKETING),
    Reason("duplicate_email", "Email shared by several customers",
           "More than one Business Partner uses this email address; none is sent until someone "
           "decides which one is the contact.",
           "Open the conflict and choose the winning record, merge them, or reject them.",
           Team.MARKETING),
    Reason("required_field_empty", "Required field empty",
           "A field the destination requires is empty for this record.",
           "Fill the field in SAP (or relax the mapping), then press Retry.",
           Team.MARKETING),
    Reason("transform_failed", "Value could not be converted",
           "A value could not be converted for the destination.",
           "Correct the value in SAP or change the field mapping, then press Retry.",
           Team.MARKETING),
    Reason("unreadable_record", "Record could not be read",
           "The ERP sent a record the hub could not understand.",
           "Check the record in SAP; the technical detail shows what was wrong.",
           Team.INTEGRATION),
    Reason("invalid_characters", "Text the hub cannot store",
           "A value in the ERP contains a character the hub cannot store or send (a NUL, bytes that are not "
           "valid text, or invisible control characters); the rest of the data goes on without this record.",
           "Retype the value named below in SAP (it was often pasted or imported), then press Retry.",
           Team.INTEGRATION),
    Reason("value_too_long", "Value too long",
           "A value in the ERP is longer than the hub's copy of the ERP can hold; the rest of the data goes on "
           "without this record.",
           "Shorten the value named below in SAP, then press Retry.",
           Team.INTEGRATION),
    Reason("value_too_long_for_destination", "Value too long for the marketing platform",
           "A value is longer than the marketing platform accepts, so the record is not sent rather than "
           "sent cut short.",
           "Shorten the value named below in SAP (or stop mapping that field), then press Retry.",
           Team.MARKETING),
    Reason("destination_rejected", "Rejected by the destination",
           "The marketing platform refused this record.",
           "Read the destination's answer below, correct the record in SAP, then press Retry.",
           Team.MARKETING),
    Reason("contact_suppressed", "Contact is suppressed",
           "The contact is suppressed (unsubscribed, bounced or complained) in the marketing "
           "platform, which will not accept changes to it.",
           "Nothing to fix in SAP. Ignore this, or ask the contact to resubscribe.",
           Team.MARKETING),
    Reason("destination_unreachable", "Destination unreachable",
           "The marketing platform could not be reached after several attempts.",
           "Usually passes by itself; press Retry once the platform is back.",
           Team.INTEGRATION),
    Reason("missing_sku", "Item without SKU",
           "The item has no product code once the SKU rule is applied, so no product can be sent.",
           "Give the item a code in SAP or change the SKU rule, then press Retry.",
           Team.INTEGRATION),
    Reason("sku_collision", "Two items, one SKU",
           "Two ERP item codes become the same SKU under the SKU rule; neither is sent, so their "
           "stock is never mixed up.",
           "Change one item code in SAP, or the SKU rule, then press Retry.",
           Team.INTEGRATION),
    Reason("unknown_warehouse", "Unknown warehouse",
           "Stock is held in a warehouse the ERP did not list; that stock is not counted.",
           "Check the warehouse in SAP; it counts once the ERP lists it and a warehouse rule includes it.",
           Team.INTEGRATION),
    Reason("waiting_for_customer", "Waiting for the customer",
           "The order waits until its customer is a contact at the destination; it moves by itself "
           "as soon as the customer goes through.",
           "Fix the customer's own exception (often the email address); nothing to do on the order.",
           Team.MARKETING),
    Reason("unknown_customer", "Unknown customer",
           "The order is for a Business Partner the ERP did not list.",
           "Check the customer code on the order in SAP, then press Retry.",
           Team.FINANCE),
    Reason("unknown_item", "Unknown item on a line",
           "An order line is for an item the ERP did not list.",
           "Correct the line's item in SAP, then press Retry.",
           Team.FINANCE),
    Reason("total_mismatch", "Total does not add up",
           "The order's total differs from its lines plus tax, so its value cannot be trusted.",
           "Check the order's totals in SAP, then press Retry.",
           Team.FINANCE),
    Reason("provisional_order_not_in_erp", "Web order never reached the ERP",
           "The web shop reported this order at checkout, but after the allowed time no order in the ERP "
           "carries its web reference, so the marketing platform still shows it as pending.",
           "Check in the web shop and in SAP whether the order was placed: the sales order's customer reference "
           "must be the web order number. This clears by itself when the ERP order arrives; ignore it if the "
           "order was abandoned.",
           Team.MARKETING),
    Reason("waiting_for_base_document", "Waiting for its base document",
           "This document was copied from another one (an order, a delivery, an invoice or a return) that the "
           "hub has not received from the ERP, so it cannot be tied to its order yet. It moves by itself as "
           "soon as that document arrives.",
           "Nothing to do yet: the base document usually arrives with the next pull. If it stays, check in SAP "
           "that the document named below exists.",
           Team.FINANCE),
    Reason("base_document_missing", "Base document missing",
           "This document was copied from another one that is still not in the ERP's data the hub holds after "
           "the allowed time, so it reaches no order: no dispatch signal or refund comes from it. It clears by "
           "itself if that document arrives.",
           "Check in SAP that the document named below exists and was not deleted, then press Retry to read "
           "this one again.",
           Team.FINANCE),
    Reason("authentication_failed", "Credentials refused",
           "The ERP or the marketing platform refused the hub's credentials.",
           "An integration admin must check the connection's user and password.",
           Team.INTEGRATION),
    Reason("destination_never_confirmed", "Never confirmed by the destination",
           "The marketing platform took this record several times but never confirmed or refused it, so the "
           "hub cannot say it arrived.",
           "Check the record in the marketing platform; press Retry to send it again.",
           Team.INTEGRATION),
    Reason("erp_unreachable", "ERP unreachable",
           "The hub cannot reach the ERP, so nothing new is read from it. Nothing is lost: reading resumes "
           "where it stopped once the ERP answers.",
           "Check that the SAP Service Layer is running and reachable from the hub (address, network, "
           "certificate). This clears by itself at the first pull the ERP answers.",
           Team.INTEGRATION),
]

# Drift detection (syncapp/drift): a field the marketing platform owns changed there.
_REASONS += [
    Reason("drifted_at_destination", "Changed at the marketing platform",
           "A field the marketing platform owns (consent, subscription or engagement) no longer holds what the "
           "hub last sent: someone or something changed it there. The hub has not overwritten it.",
           "Compare the two values below. If the platform's value is right (the contact or a colleague changed "
           "it), press Ignore. If the ERP's value is right, press Retry to send the ERP's values again.",
           Team.MARKETING),
]

# SAP ECC: an IDoc (a message ECC pushed) that could not be applied, or waits for another.
_REASONS += [
    Reason("idoc_failed", "IDoc could not be applied",
           "An IDoc from SAP ECC could not be applied to the hub's data; the IDoc monitor shows it with the reason.",
           "Fix the cause in SAP (or the connection's settings), then Reprocess it in the IDoc monitor or press Retry.",
           Team.INTEGRATION),
    Reason("idoc_waiting", "Waiting for an earlier IDoc",
           "This IDoc needs another one applied first (its customer's or material's master data), and that one "
           "failed or has not arrived.",
           "Reprocess the earlier IDoc once it is fixed; this one then moves by itself.",
           Team.INTEGRATION),
]
# Engagement written back to SAP B1 (engagement/): the ERP is the one receiving here.
_REASONS += [
    Reason("writeback_value_refused", "SAP refused the engagement",
           "SAP did not take the email engagement (opens, clicks, last campaign, email status) the hub wrote to "
           "this Business Partner: one of its engagement fields in SAP has another type or is too short.",
           "An integration admin checks the field SAP names below (its type and size in SAP must match the "
           "write-back's set-up), then press Retry.",
           Team.INTEGRATION),
    Reason("writeback_field_missing", "Engagement field missing in SAP",
           "SAP has no user field of this name on Business Partners, so the customer's email engagement could "
           "not be written there.",
           "An integration admin runs the write-back set-up again (manage.py engagement_writeback --setup) or "
           "creates the field in SAP, then press Retry.",
           Team.INTEGRATION),
    Reason("writeback_partner_missing", "Business Partner gone from SAP",
           "The Business Partner no longer exists in SAP, so its email engagement could not be written.",
           "Nothing to write: ignore this if the partner was deleted on purpose, or press Retry once it is back.",
           Team.INTEGRATION),
    Reason("writeback_field_type_differs", "Engagement field has another type in SAP",
           "A user field the write-back needs already exists in SAP with another type, so no engagement is "
           "written until it is sorted out.",
           "Give the measure another field name in the write-back settings, or change the field in SAP, then "
           "press Retry.",
           Team.INTEGRATION),
    Reason("writeback_field_owned_by_erp", "Engagement field belongs to the ERP",
           "An engagement field is also a field the hub reads from SAP or sends to a marketing platform, so the "
           "ERP owns it; writing engagement there would send it straight back out. No engagement is written.",
           "Give the engagement measure its own user field in the write-back settings, then press Retry.",
           Team.INTEGRATION),
    Reason("writeback_settings_invalid", "Write-back settings cannot be used",
           "The engagement write-back's settings name a field that cannot be used, so no engagement is written.",
           "Correct the write-back settings in the admin (the reason is below), then press Retry.",
           Team.INTEGRATION),
    Reason("writeback_setup_refused", "SAP refused the write-back set-up",
           "SAP would not list or create the Business Partner user fields the engagement write-back needs.",
           "Check the Service Layer user's rights to user-defined fields, then press Retry.",
           Team.INTEGRATION),
]
REASONS: dict[str, Reason] = {reason.code: reason for reason in _REASONS}
REASON_CHOICES = [(reason.code, reason.title) for reason in _REASONS]


def reason_for(code: str) -> Reason:
    return REASONS.get(code) or Reason(code, code.replace("_", " ").capitalize(),
                                       "The record could not be synchronised.",
                                       "Read the technical detail, then press Retry.",
                                       Team.INTEGRATION)
