"""The builder pages: who may use them, what saving writes, how problems show, tree edits and the live preview."""

from __future__ import annotations

import datetime as dt
import html as html_module
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from audience_ops.audiences.definitions import canonical_json
from audience_ops.audiences.models import Audience, AudienceVersion
from audience_ops.audiences.services import (
    audience_export,
    audience_import,
    audience_size,
    rule_condition_sizes,
)
from audience_ops.customers.models import Profile
from tests.audiences.helpers import SPEC_EXAMPLE, make_profile, track
from tests.audiences.test_builder_tree import ATTRIBUTE_CASES, EVENT_CASES, GROUP_CASES, MEMBERSHIP_CASES

CART_RULE = SPEC_EXAMPLE["audiences"][1]["rule"]
ROUND_TRIP_RULES = ATTRIBUTE_CASES + EVENT_CASES + MEMBERSHIP_CASES + GROUP_CASES


class FormReader(HTMLParser):
    """The name/value pairs a browser would submit for ``<form id=form_id>`` (submit buttons left out)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_multiple = False
        self._select_pairs: list[tuple[str, str]] = []
        self._first_option: str | None = None
        self._option_value: str | None = None
        self._option_selected = False
        self._option_text = ""
        self._textarea: str | None = None
        self._textarea_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form" and attr.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        if tag in ("input", "select", "textarea") and "disabled" in attr:
            return
        if tag == "input" and "name" in attr:
            kind = attr.get("type", "text")
            if kind in ("submit", "button", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attr:
                return
            self.pairs.append((attr["name"], attr.get("value", "")))
        elif tag == "select":
            self._select = attr.get("name")
            self._select_multiple = "multiple" in attr
            self._select_pairs = []
            self._first_option = None
        elif tag == "option" and self._select is not None:
            self._option_value = attr.get("value")
            self._option_selected = "selected" in attr
            self._option_text = ""
        elif tag == "textarea":
            self._textarea = attr.get("name")
            self._textarea_text = ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea_text += data
        elif self._option_value is None and self._select is not None:
            self._option_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        if not self.inside:
            return
        if tag == "option" and self._select is not None:
            value = self._option_value if self._option_value is not None else self._option_text
            if self._first_option is None:
                self._first_option = value
            if self._option_selected:
                self._select_pairs.append((self._select, value))
            self._option_value = None
        elif tag == "select" and self._select is not None:
            if not self._select_pairs and not self._select_multiple and self._first_option is not None:
                self._select_pairs.append((self._select, self._first_option))
            self.pairs.extend(self._select_pairs)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # The HTML parser drops one newline right after <textarea>, as browsers do.
            text = self._textarea_text[1:] if self._textarea_text.startswith("\n") else self._textarea_text
            self.pairs.append((self._textarea, text.replace("\n", "\r\n")))
            self._textarea = None


def submitted(html: str, form_id: str = "builder-form") -> dict[str, Any]:
    reader = FormReader(form_id)
    reader.feed(html)
    data: dict[str, Any] = {}
    for name, value in reader.pairs:
        if name in data:
            data[name] = [*data[name], value] if isinstance(data[name], list) else [data[name], value]
        else:
            data[name] = value
    return data


def import_audiences(*items: dict[str, Any]) -> None:
    result = audience_import(payload={"audiences": list(items)})
    assert result.problems == []


def purchased_24h(owner: str = "maria") -> dict[str, Any]:
    return {**SPEC_EXAMPLE["audiences"][0], "owner": owner}


def cart_abandoners(owner: str = "maria") -> dict[str, Any]:
    return {**SPEC_EXAMPLE["audiences"][1], "owner": owner}


def cart_form(**overrides: Any) -> dict[str, Any]:
    """The builder form filled in for the spec's cart abandoners, as a browser posts it."""
    data = {
        "slug": "cart-abandoners-3d",
        "name": "Cart abandoners, last 3 days",
        "kind": "targeting",
        "objective": "ads",
        "owner": "maria",
        "purpose": "Short paid retargeting window after cart abandonment; full-price creative",
        "retire_on": "2027-03-31",
        "intent": "cart",
        "offer": "full_price",
        "paired_suppression": "purchased-24h",
        "rule-kind": "all",
        "rule_0-kind": "event",
        "rule_0-event": "Product Added",
        "rule_0-mode": "did",
        "rule_0-count_op": "gte",
        "rule_0-count_n": "1",
        "rule_0-window": "days",
        "rule_0-window_n": "3",
        "rule_1-kind": "event",
        "rule_1-event": "Order Completed",
        "rule_1-mode": "count",
        "rule_1-count_op": "eq",
        "rule_1-count_n": "0",
        "rule_1-window": "days",
        "rule_1-window_n": "3",
        "rule_2-kind": "attribute",
        "rule_2-attribute": "unsubscribed",
        "rule_2-op": "ne",
        "rule_2-value_type": "true",
        "rule_2-value": "",
        "builder_action": "save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def error_text(html: str, input_id: str) -> str:
    """The text of the message block the template places under the input ``input_id``."""
    match = re.search(rf'<div[^>]* id="{re.escape(input_id)}_error"[^>]*>(.*?)</div>', html, re.S)
    assert match is not None, f"no message under {input_id}"
    return html_module.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


NEW = reverse("builder:new")
PLAYBOOKS = reverse("builder:playbooks")
PREVIEW = reverse("builder:preview")


# --- permissions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [NEW, PLAYBOOKS, "/builder/cart-abandoners-3d/edit/"])
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        ("marketer", NEW, 200),
        ("marketer", PLAYBOOKS, 200),
        ("marketer", "edit", 200),
        ("ops", NEW, 403),
        ("ops", PLAYBOOKS, 403),
        ("ops", "edit", 403),
        # admins hold audiences.change_audience but not add_audience (accounts/roles.py)
        ("admin", NEW, 403),
        ("admin", PLAYBOOKS, 403),
        ("admin", "edit", 200),
    ],
)
def test_role_matrix(client, marketer, ops_user, admin_user, role, url, status):
    # given
    import_audiences(purchased_24h(), cart_abandoners())
    user = {"marketer": marketer, "ops": ops_user, "admin": admin_user}[role]
    client.force_login(user)
    if url == "edit":
        url = reverse("builder:edit", kwargs={"slug": "cart-abandoners-3d"})

    # when
    response = client.get(url)

    # then
    assert response.status_code == status


def test_ops_cannot_save_or_preview(ops_client):
    # when
    save = ops_client.post(NEW, cart_form())
    preview = ops_client.post(PREVIEW, cart_form())

    # then
    assert (save.status_code, preview.status_code) == (403, 403)
    assert Audience.objects.count() == 0


def test_editing_an_unknown_audience_is_404(marketer_client):
    assert marketer_client.get(reverse("builder:edit", kwargs={"slug": "nope-nope"})).status_code == 404


# --- create -----------------------------------------------------------------------------------------------


def test_create_saves_exactly_the_v1_structure(marketer_client, marketer):
    # given
    import_audiences(purchased_24h())

    # when
    response = marketer_client.post(NEW, cart_form())

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("audiences:detail", kwargs={"slug": "cart-abandoners-3d"})
    assert audience_export(["cart-abandoners-3d"]) == {"audiences": [cart_abandoners()]}
    version = AudienceVersion.objects.get(audience__slug="cart-abandoners-3d")
    assert (version.number, version.author) == (1, marketer)


def test_create_with_exclusions_values_and_filters(marketer_client):
    # given
    import_audiences(purchased_24h(), {**purchased_24h(), "slug": "vip-protect", "name": "VIP"})
    form = cart_form(
        slug="coffee-lovers",
        name="Coffee lovers",
        objective="analytics",
        paired_suppression="",
        intent="",
        offer="none",
        exclude=["vip-protect", "purchased-24h"],
        **{
            "rule_0-event": "Order Completed",
            "rule_0-mode": "last",
            "rule_0-window": "days_ago",
            "rule_0-window_from": "25",
            "rule_0-window_to": "45",
            "rule_0-w0-property": "category",
            "rule_0-w0-op": "in",
            "rule_0-w0-value_type": "string",
            "rule_0-w0-value": "coffee\r\ntea",
            "rule_0-w1-property": "price",
            "rule_0-w1-op": "gte",
            "rule_0-w1-value_type": "number",
            "rule_0-w1-value": "18.50",
            "rule_2-value_type": "json",
            "rule_2-value": '"yes"',
        },
    )

    # when
    response = marketer_client.post(NEW, form)

    # then
    assert response.status_code == 302
    (exported,) = audience_export(["coffee-lovers"])["audiences"]
    assert exported == {
        "slug": "coffee-lovers",
        "name": "Coffee lovers",
        "kind": "targeting",
        "objective": "analytics",
        "owner": "maria",
        "purpose": "Short paid retargeting window after cart abandonment; full-price creative",
        "retire_on": "2027-03-31",
        "exclude": ["purchased-24h", "vip-protect"],
        "offer": "none",
        "rule": {
            "all": [
                {
                    "event": "Order Completed",
                    "where": [
                        {"property": "category", "op": "in", "value": ["coffee", "tea"]},
                        {"property": "price", "op": "gte", "value": 18.5},
                    ],
                    "last": {"days_ago": [25, 45]},
                },
                {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
                {"attribute": "unsubscribed", "op": "ne", "value": "yes"},
            ]
        },
    }


def test_invalid_window_saves_nothing_and_shows_the_error_at_the_field(marketer_client):
    # given
    import_audiences(purchased_24h())

    # when
    response = marketer_client.post(NEW, cart_form(**{"rule_1-window_n": "0"}))

    # then
    assert response.status_code == 400
    html = response.content.decode()
    assert error_text(html, "id_rule_1-window_n") == "N: N must be a positive integer, got number 0"
    assert 'id="error-summary"' in html
    assert "rule.all[1].within.days" in html
    assert 'aria-invalid="true" aria-describedby="id_rule_1-window_n_error"' in html
    assert not Audience.objects.filter(slug="cart-abandoners-3d").exists()
    assert AudienceVersion.objects.count() == 1


def test_unreadable_number_saves_nothing_and_is_shown_once(marketer_client):
    import_audiences(purchased_24h())

    response = marketer_client.post(NEW, cart_form(**{"rule_0-window_n": "three"}))

    assert response.status_code == 400
    html = response.content.decode()
    assert error_text(html, "id_rule_0-window_n") == 'N: N must be a whole number, got "three"'
    # the validator's own reading of the same value ("got string") is not shown on top of the form's
    assert "positive integer" not in html
    assert Audience.objects.filter(slug="cart-abandoners-3d").count() == 0


def test_missing_paired_suppression_is_shown_at_that_field(marketer_client):
    response = marketer_client.post(NEW, cart_form(paired_suppression=""))

    assert response.status_code == 400
    html = response.content.decode()
    assert 'is required for a targeting audience with objective "ads"' in error_text(html, "id_paired_suppression")
    assert Audience.objects.count() == 0


def test_a_slug_that_exists_is_refused_and_the_audience_is_untouched(marketer_client):
    # given
    import_audiences(purchased_24h(), cart_abandoners())
    before = audience_export(["cart-abandoners-3d"])

    # when
    response = marketer_client.post(NEW, cart_form(name="Something else"))

    # then
    assert response.status_code == 400
    assert "already exists" in error_text(response.content.decode(), "id_slug")
    assert audience_export(["cart-abandoners-3d"]) == before
    assert AudienceVersion.objects.filter(audience__slug="cart-abandoners-3d").count() == 1


def test_check_shows_problems_without_saving(marketer_client):
    import_audiences(purchased_24h())

    response = marketer_client.post(NEW, cart_form(builder_action="check", **{"rule_2-attribute": ""}))

    assert response.status_code == 200
    assert (
        error_text(response.content.decode(), "id_rule_2-attribute")
        == 'Attribute: must be a non-empty trait name, got string ""'
    )
    assert not Audience.objects.filter(slug="cart-abandoners-3d").exists()


# --- edit -------------------------------------------------------------------------------------------------


def test_an_imported_audience_opens_in_the_builder_and_saves_back_unchanged(marketer_client):
    # given every spec example, with QA cases
    import_audiences(
        purchased_24h(),
        {**cart_abandoners(), "qa": [{"profile": "u-1", "expect": "in", "note": "cart"}]},
        {**SPEC_EXAMPLE["audiences"][2], "owner": "maria", "exclude": ["purchased-24h"]},
    )
    before = audience_export()

    for slug in ("purchased-24h", "cart-abandoners-3d", "coffee-replenish"):
        url = reverse("builder:edit", kwargs={"slug": slug})
        # when the form is posted back as the browser shows it
        data = submitted(marketer_client.get(url).content.decode())
        response = marketer_client.post(url, {**data, "builder_action": "save"})

        # then nothing changes
        assert response.status_code == 302, slug

    assert audience_export() == before
    assert AudienceVersion.objects.count() == 3


@pytest.mark.parametrize("rule", ROUND_TRIP_RULES, ids=canonical_json)
def test_every_kind_of_rule_opens_in_the_page_and_saves_back_unchanged(marketer_client, rule):
    # given an audience with this rule, and the audiences rules may refer to
    import_audiences(
        purchased_24h(),
        {**purchased_24h(), "slug": "vip-protect", "name": "VIP"},
        {**purchased_24h(), "slug": "other-one", "name": "Other"},
        {
            "slug": "round-trip",
            "name": "Round trip",
            "kind": "targeting",
            "objective": "analytics",
            "owner": "maria",
            "purpose": "every kind of rule",
            "retire_on": "2027-12-31",
            "rule": rule,
        },
    )
    before = audience_export(["round-trip"])
    url = reverse("builder:edit", kwargs={"slug": "round-trip"})

    # when the rendered form is posted back as a browser would
    data = submitted(marketer_client.get(url).content.decode())
    response = marketer_client.post(url, {**data, "builder_action": "save"})

    # then the definition is byte for byte the same and no version was added
    assert response.status_code == 302
    assert canonical_json(audience_export(["round-trip"])) == canonical_json(before)
    assert AudienceVersion.objects.filter(audience__slug="round-trip").count() == 1


def test_edit_creates_a_new_version_and_updates_the_metadata(marketer_client, marketer):
    # given
    import_audiences(purchased_24h(), {**cart_abandoners(), "qa": [{"profile": "u-1", "expect": "in"}]})
    url = reverse("builder:edit", kwargs={"slug": "cart-abandoners-3d"})
    data = submitted(marketer_client.get(url).content.decode())
    data.update({"name": "Cart abandoners, last 5 days", "rule_0-window_n": "5", "builder_action": "save"})

    # when
    response = marketer_client.post(url, data)

    # then
    assert response.status_code == 302
    audience = Audience.objects.get(slug="cart-abandoners-3d")
    assert audience.name == "Cart abandoners, last 5 days"
    versions = list(audience.versions.order_by("number"))
    assert [version.number for version in versions] == [1, 2]
    assert versions[0].rule == CART_RULE
    assert versions[1].rule["all"][0] == {"event": "Product Added", "within": {"days": 5}}
    assert versions[1].rule["all"][1:] == CART_RULE["all"][1:]
    assert versions[1].qa == [{"profile": "u-1", "expect": "in"}]
    assert versions[1].author == marketer


def test_edit_shows_the_slug_but_never_changes_it(marketer_client):
    import_audiences(purchased_24h(), cart_abandoners())
    url = reverse("builder:edit", kwargs={"slug": "cart-abandoners-3d"})
    data = submitted(marketer_client.get(url).content.decode())

    response = marketer_client.post(url, {**data, "slug": "renamed-slug", "builder_action": "save"})

    assert response.status_code == 302
    assert list(Audience.objects.order_by("slug").values_list("slug", flat=True)) == [
        "cart-abandoners-3d",
        "purchased-24h",
    ]


def test_edit_based_on_an_old_version_saves_nothing(marketer_client):
    # given the form was opened at version 1, then someone saved version 2
    import_audiences(purchased_24h(), cart_abandoners())
    url = reverse("builder:edit", kwargs={"slug": "cart-abandoners-3d"})
    data = submitted(marketer_client.get(url).content.decode())
    changed = {**cart_abandoners(), "rule": {"all": CART_RULE["all"][:2]}}
    import_audiences(changed)

    # when
    response = marketer_client.post(url, {**data, "rule_0-window_n": "9", "builder_action": "save"})

    # then
    assert response.status_code == 400
    assert "now at version 2" in response.content.decode()
    assert AudienceVersion.objects.filter(audience__slug="cart-abandoners-3d").count() == 2


def test_admin_may_edit_through_the_builder(admin_client_role, marketer):
    import_audiences(purchased_24h(), cart_abandoners())
    url = reverse("builder:edit", kwargs={"slug": "cart-abandoners-3d"})
    data = submitted(admin_client_role.get(url).content.decode())

    response = admin_client_role.post(url, {**data, "rule_0-window_n": "4", "builder_action": "save"})

    assert response.status_code == 302
    assert AudienceVersion.objects.filter(audience__slug="cart-abandoners-3d").count() == 2


# --- tree edits -------------------------------------------------------------------------------------------


def test_htmx_add_returns_only_the_group_with_a_new_row(marketer_client):
    # when
    response = marketer_client.post(NEW, cart_form(builder_action="add:event:rule"), HTTP_HX_REQUEST="true")

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Trigger-After-Settle"] == "builder-changed"
    assert "<html" not in html
    assert html.lstrip().startswith('<fieldset id="node-rule"')
    assert 'name="rule_3-event"' in html
    assert re.search(r'<input[^>]*name="rule_3-event"[^>]*autofocus', html)
    assert 'value="Product Added"' in html
    assert Audience.objects.count() == 0


def test_htmx_add_into_a_nested_group_returns_that_group(marketer_client):
    form = cart_form(**{"rule_3-kind": "any", "builder_action": "add:attribute:rule_3"})

    response = marketer_client.post(NEW, form, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<fieldset id="node-rule_3"')
    assert 'name="rule_3_0-attribute"' in html
    assert 'name="rule_0-event"' not in html


def test_htmx_remove_returns_the_parent_group_renumbered(marketer_client):
    response = marketer_client.post(NEW, cart_form(builder_action="remove:rule_0"), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    data = submitted(f'<form id="builder-form">{html}</form>')
    assert html.lstrip().startswith('<fieldset id="node-rule"')
    assert data["rule_0-event"] == "Order Completed"
    assert data["rule_1-attribute"] == "unsubscribed"
    assert "rule_2-kind" not in data


def test_htmx_filter_add_and_remove_return_the_event_row(marketer_client):
    added = marketer_client.post(NEW, cart_form(builder_action="add-filter:rule_1"), HTTP_HX_REQUEST="true")
    html = added.content.decode()
    assert html.lstrip().startswith('<div id="node-rule_1"')
    assert 'name="rule_1-w0-property"' in html

    form = cart_form(
        **{"rule_1-w0-property": "a", "rule_1-w0-op": "exists", "builder_action": "remove-filter:rule_1-w0"}
    )
    removed = marketer_client.post(NEW, form, HTTP_HX_REQUEST="true")
    assert 'name="rule_1-w0-property"' not in removed.content.decode()


def test_tree_edit_without_javascript_renders_the_whole_page_and_saves_nothing(marketer_client):
    # when
    response = marketer_client.post(NEW, cart_form(builder_action="add:in_audience:rule"))

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    data = submitted(html)
    assert data["rule_3-kind"] == "in_audience"
    assert data["name"] == "Cart abandoners, last 3 days"
    assert data["rule_2-attribute"] == "unsubscribed"
    assert "error-summary" not in html
    assert Audience.objects.count() == 0


def test_tree_edit_naming_no_row_is_a_bad_request(marketer_client):
    response = marketer_client.post(NEW, cart_form(builder_action="remove:rule_9"), HTTP_HX_REQUEST="true")
    assert response.status_code == 400


# --- live preview -----------------------------------------------------------------------------------------


def shoppers() -> dict[str, Profile]:
    """Profiles around 'now': two cart abandoners, a buyer, an unsubscribed abandoner, an old cart."""
    now = timezone.now()
    people = {
        "ann": make_profile(external_id="ann", traits={"unsubscribed": False}),
        "bob": make_profile(external_id="bob", traits={}),
        "cy": make_profile(external_id="cy", traits={"unsubscribed": False}),
        "dee": make_profile(external_id="dee", traits={"unsubscribed": True}),
        "eve": make_profile(external_id="eve", traits={}),
    }
    for name in ("ann", "bob", "cy", "dee"):
        track(people[name], "Product Added", now - dt.timedelta(days=1))
    track(people["cy"], "Order Completed", now - dt.timedelta(hours=30))
    track(people["eve"], "Product Added", now - dt.timedelta(days=10))
    return people


def preview_numbers(html: str) -> tuple[int, list[int]]:
    size = int(re.search(r'id="preview-size" data-size="(\d+)"', html).group(1))
    conditions = re.search(r'<ol class="builder-preview-conditions".*?</ol>', html, re.S).group(0)
    return size, [int(value) for value in re.findall(r'data-size="(\d+)"', conditions)]


def test_preview_shows_the_size_and_each_condition_size(marketer_client):
    # given
    import_audiences(purchased_24h())
    people = shoppers()
    definition = {"rule": CART_RULE, "paired_suppression": "purchased-24h"}

    # when
    response = marketer_client.post(PREVIEW, cart_form())

    # then
    html = response.content.decode()
    now = timezone.now()
    assert preview_numbers(html) == (audience_size(definition, now), rule_condition_sizes(definition, now))
    assert preview_numbers(html) == (2, [4, 4, 4])
    for name in ("ann", "bob"):
        assert f'href="{reverse("customers:profile_detail", args=[people[name].pk])}"' in html
    assert f'href="{reverse("customers:profile_detail", args=[people["dee"].pk])}"' not in html
    assert "Did Product Added at least once in the last 3 days" in html
    assert "minus members of Purchased in last 24 hours" in html
    assert 'id="size-rule_0" hx-swap-oob="true"' in html


def test_preview_applies_exclusions_from_the_form(marketer_client):
    import_audiences(
        purchased_24h(),
        {**purchased_24h(), "slug": "ann-only", "rule": {"attribute": "external_id", "op": "eq", "value": "ann"}},
    )
    shoppers()

    response = marketer_client.post(PREVIEW, cart_form(exclude=["ann-only"]))

    assert preview_numbers(response.content.decode())[0] == 1


def test_preview_of_an_invalid_tree_shows_the_problem_instead_of_a_size(marketer_client):
    response = marketer_client.post(PREVIEW, cart_form(**{"rule_0-window_n": "0"}))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="preview-size"' not in html
    assert "N must be a positive integer, got number 0" in html
    assert "rule.all[0].within.days" in html


def test_full_page_shows_the_preview_and_sizes_beside_top_level_rows(marketer_client):
    import_audiences(purchased_24h(), cart_abandoners())
    shoppers()

    response = marketer_client.get(reverse("builder:edit", kwargs={"slug": "cart-abandoners-3d"}))

    html = response.content.decode()
    assert preview_numbers(html) == (2, [4, 4, 4])
    assert re.search(r'id="size-rule_1"[^>]*>.*?4<span class="visually-hidden"> profiles on its own', html, re.S)


# --- playbooks --------------------------------------------------------------------------------------------


def test_new_from_a_playbook_is_pre_filled_and_offers_its_missing_suppression(marketer_client):
    # when
    response = marketer_client.get(NEW + "?playbook=cart-recovery")

    # then
    html = response.content.decode()
    data = submitted(html)
    assert data["slug"] == "cart-abandoners-3d"
    assert data["rule_1-count_op"] == "eq"
    assert "which does not exist yet" in html
    assert reverse("builder:playbook_companions", args=["cart-recovery"]) in html


def test_creating_playbook_companions_then_saving_the_playbook(marketer_client):
    # given
    page = NEW + "?playbook=cart-recovery"

    # when the marketer creates the missing suppression from the notice
    response = marketer_client.post(reverse("builder:playbook_companions", args=["cart-recovery"]), {"next": page})

    # then
    assert response.status_code == 302
    assert response["Location"] == page
    assert Audience.objects.get(slug="purchased-24h").kind == "suppression"

    # and the pre-filled form saves as it is
    html = marketer_client.get(page).content.decode()
    assert "does not exist yet" not in html
    data = submitted(html)
    assert marketer_client.post(NEW, {**data, "builder_action": "save"}).status_code == 302
    (exported,) = audience_export(["cart-abandoners-3d"])["audiences"]
    assert exported["rule"] == CART_RULE
    assert exported["paired_suppression"] == "purchased-24h"


def test_companion_redirect_stays_on_this_site(marketer_client):
    response = marketer_client.post(
        reverse("builder:playbook_companions", args=["cart-recovery"]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == PLAYBOOKS


def test_unknown_playbook_or_variant_is_404(marketer_client):
    assert marketer_client.get(NEW + "?playbook=nope").status_code == 404
    assert marketer_client.get(NEW + "?playbook=browse-intent&variant=nope").status_code == 404


def test_playbook_picker_lists_every_playbook(marketer_client):
    html = marketer_client.get(PLAYBOOKS).content.decode()
    for key in ("cart-recovery", "browse-intent", "replenishment", "winback", "vip-protection"):
        assert f'id="playbook-{key}"' in html
    assert "?playbook=browse-intent&amp;variant=checkout" in html


def test_datalists_offer_known_traits_events_and_properties(marketer_client):
    # given
    shopper = make_profile(external_id="dl-1", traits={"vip_tier": "gold", "loyalty points": 3})
    track(shopper, "Product Added", timezone.now(), sku="COF-1")
    track(shopper, "Order Completed", timezone.now(), category="coffee")

    # when
    html = marketer_client.get(NEW).content.decode()

    # then
    def options(list_id: str) -> list[str]:
        block = re.search(rf'<datalist id="{list_id}">(.*?)</datalist>', html, re.S).group(1)
        return [html_module.unescape(value) for value in re.findall(r'<option value="([^"]*)">', block)]

    assert options("builder-attributes") == ["email", "phone", "external_id", "loyalty points", "vip_tier"]
    assert options("builder-events") == ["Order Completed", "Product Added"]
    assert options("builder-properties") == ["category", "sku"]
