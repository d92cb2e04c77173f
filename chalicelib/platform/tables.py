"""What the platform knows of any table's model (the list of the product's tables is chalicelib/tables.py)."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model


def ttl_attribute(model: type[Model]) -> str | None:
    """The DynamoDB name of the model's TTL attribute, if it has one."""
    for attribute in model.get_attributes().values():
        if isinstance(attribute, TTLAttribute):
            name: str = attribute.attr_name
            return name
    return None
