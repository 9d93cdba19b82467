"""Choices for audiences, each carrying the badge colour the UI shows it with (NetBox style)."""

from __future__ import annotations

from django.db import models


class AudienceKind(models.TextChoices):
    TARGETING = "targeting", "Targeting"
    SUPPRESSION = "suppression", "Suppression"

    @property
    def color(self) -> str:
        return {"targeting": "blue", "suppression": "red"}[self.value]


class AudienceObjective(models.TextChoices):
    ADS = "ads", "Ads"
    WAREHOUSE = "warehouse", "Warehouse"
    ANALYTICS = "analytics", "Analytics"

    @property
    def color(self) -> str:
        return {"ads": "purple", "warehouse": "gray", "analytics": "teal"}[self.value]


class AudienceOffer(models.TextChoices):
    DISCOUNT = "discount", "Discount"
    FULL_PRICE = "full_price", "Full price"
    NONE = "none", "None"

    @property
    def color(self) -> str:
        return {"discount": "orange", "full_price": "green", "none": "secondary"}[self.value]


class AudienceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    LIVE = "live", "Live"
    PAUSED = "paused", "Paused"
    RETIRED = "retired", "Retired"

    @property
    def color(self) -> str:
        return {
            "draft": "secondary",
            "in_review": "yellow",
            "approved": "cyan",
            "live": "green",
            "paused": "orange",
            "retired": "dark",
        }[self.value]


class QaExpectation(models.TextChoices):
    IN = "in", "In"
    OUT = "out", "Out"


class ReviewState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"

    @property
    def color(self) -> str:
        return {"pending": "yellow", "approved": "green", "rejected": "red", "withdrawn": "secondary"}[self.value]
