"""Builder pages: new and edit audiences as forms, the live preview, and the playbook picker.

The views are thin: the tree of condition rows comes from :mod:`.tree`, problems from the project validator,
sizes and samples from the audience services, and saving is :func:`~..services.audience_import` (one
transaction that creates the audience or updates its metadata, adds a version only when the definition
changed, and checks the acting user's permission again).

Every edit of the tree is a submit button (``builder_action=add:event:rule_1``), so the builder works as a
plain form post; with htmx the same button posts to the same URL and gets back only the re-rendered group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from .. import selectors as audience_selectors
from ..definitions import audience_to_dict
from ..models import Audience
from ..services import audience_import, definition_to_text
from ..validation import validate_audience_payload
from . import selectors
from .forms import INTENT_SUGGESTIONS, AudienceMetadataForm, default_retire_on, metadata_initial
from .playbooks import PLAYBOOKS, Playbook, playbook_companions
from .preview import build_preview
from .rows import SummaryItem, build_row_view, is_rule_path, rule_problems
from .tree import (
    Edit,
    Row,
    TreeError,
    TreeResult,
    filter_add,
    filter_remove,
    form_data_to_row,
    renumber,
    row_add,
    row_remove,
    row_to_rule,
    rule_to_row,
)

META_FIELDS = tuple(AudienceMetadataForm.base_fields)


def audience_url(audience: Audience) -> str:
    """The audience's own page when the audiences app provides one, else its builder page."""
    try:
        return reverse("audiences:detail", kwargs={"slug": audience.slug})
    except NoReverseMatch:
        return reverse("builder:edit", kwargs={"slug": audience.slug})


# --- the builder ------------------------------------------------------------------------------------------


class BuilderView(PermissionRequiredMixin, View):
    """Shared by new and edit: render the form, apply tree edits, check, and save through the services."""

    template_name = "audiences/builder/builder.html"
    audience: Audience | None = None

    # -- what differs between new and edit

    def initial_audience(self) -> dict[str, Any]:
        raise NotImplementedError

    def form_action(self) -> str:
        raise NotImplementedError

    def latest_qa(self) -> list[dict[str, Any]]:
        return []

    # -- HTTP

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data = self.initial_audience()
        try:
            root = renumber(rule_to_row(data["rule"]))
        except TreeError as exc:
            messages.error(request, f"rule: this definition cannot be shown as a form ({exc}).")
            root = Row(kind="all")
        meta_form = self.metadata_form(initial=metadata_initial(data))
        return self.render_page(meta_form=meta_form, root=root, base_version=self.base_version())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        action = request.POST.get("builder_action", "save")
        root = form_data_to_row(request.POST)
        if action.startswith(("add:", "remove:", "add-filter:", "remove-filter:")):
            return self.edit_tree(action, root)
        renumber(root)
        meta_form = self.metadata_form(data=request.POST)
        tree, summary, row_errors = self.check(meta_form, root)
        base_version = request.POST.get("base_version", "")
        if action == "save" and not summary:
            stale = self.stale_version(base_version)
            if stale:
                summary.append(SummaryItem(location="Audience", path="", message=stale, anchor="builder-form"))
                base_version = self.base_version()
            else:
                return self.save(meta_form, tree, summary, row_errors, root)
        status = 200 if action == "check" or not summary else 400
        return self.render_page(
            meta_form=meta_form,
            root=root,
            row_errors=row_errors,
            summary=summary,
            base_version=base_version,
            status=status,
        )

    # -- steps

    def metadata_form(self, **kwargs: Any) -> AudienceMetadataForm:
        slug = self.audience.slug if self.audience else None
        owner = self.audience.owner.get_username() if self.audience else None
        if slug is not None:
            # The slug input is disabled (browsers do not post it): the form takes it from initial.
            kwargs["initial"] = {**kwargs.get("initial", {}), "slug": slug}
        return AudienceMetadataForm(
            owners=selectors.builder_owner_choices(include=owner),
            audiences=selectors.builder_audience_options(exclude_slug=slug),
            suppressions=selectors.builder_suppression_options(exclude_slug=slug),
            audience=self.audience,
            **kwargs,
        )

    def check(
        self, meta_form: AudienceMetadataForm, root: Row
    ) -> tuple[TreeResult, list[SummaryItem], dict[str, list[str]]]:
        """Validate the whole audience with the project validator; messages go to the fields they name."""
        tree = row_to_rule(root)
        meta_form.is_valid()
        payload = meta_form.payload(rule=tree.rule, qa=self.latest_qa())
        problems = validate_audience_payload(payload)
        rule_side = [problem for problem in problems if is_rule_path(problem.path)]
        for problem in problems:
            if is_rule_path(problem.path):
                continue
            name = problem.path.split(".", 1)[0].split("[", 1)[0]
            if name in meta_form.fields:
                if name not in meta_form.errors:
                    meta_form.add_error(name, problem.message)
            else:
                meta_form.add_error(None, str(problem))
        summary = [
            SummaryItem(
                location=str(meta_form.fields[name].label or name.replace("_", " ").capitalize())
                if name in meta_form.fields
                else "Audience",
                path=name if name in meta_form.fields else "",
                message=message,
                anchor=f"id_{name}" if name in meta_form.fields else "builder-form",
            )
            for name, messages_for_field in meta_form.errors.items()
            for message in messages_for_field
        ]
        row_errors, rule_summary = rule_problems(tree, rule_side)
        return tree, summary + rule_summary, row_errors

    def save(
        self,
        meta_form: AudienceMetadataForm,
        tree: TreeResult,
        summary: list[SummaryItem],
        row_errors: dict[str, list[str]],
        root: Row,
    ) -> HttpResponse:
        payload = meta_form.payload(rule=tree.rule, qa=self.latest_qa())
        result = audience_import(payload=payload, actor_or_username=self.request.user)
        if not result.ok:
            for problem in result.problems:
                summary.append(
                    SummaryItem(location="Audience", path=problem.path, message=problem.message, anchor="builder-form")
                )
            return self.render_page(
                meta_form=meta_form,
                root=root,
                row_errors=row_errors,
                summary=summary,
                status=400,
                base_version=self.request.POST.get("base_version", ""),
            )
        change = result.changes[0]
        audience = Audience.objects.get(slug=change.slug)
        if change.action == "created":
            messages.success(self.request, f"Created {audience.name} ({audience.slug}), version {change.version}.")
        elif change.action == "new version":
            messages.success(self.request, f"Saved {audience.name}: new version {change.version}.")
        elif change.action == "updated":
            messages.success(
                self.request,
                f"Saved {audience.name}: details updated, definition unchanged (version {change.version}).",
            )
        else:
            messages.info(self.request, f"Nothing changed in {audience.name} (still version {change.version}).")
        return redirect(audience_url(audience))

    def edit_tree(self, action: str, root: Row) -> HttpResponse:
        """Apply one add/remove to the tree; htmx gets the re-rendered group, a plain post the whole page."""
        verb, _sep, rest = action.partition(":")
        try:
            if verb == "add":
                kind, _sep, parent = rest.partition(":")
                edit = row_add(root, parent=parent, kind=kind)
            elif verb == "remove":
                edit = row_remove(root, address=rest)
            elif verb == "add-filter":
                edit = filter_add(root, address=rest)
            else:
                edit = filter_remove(root, address=rest)
        except TreeError as exc:
            return HttpResponseBadRequest(f"builder_action: {exc}")
        # An edit renumbers only the rows inside its container, so the container keeps the address (and the
        # element id) the browser targets.
        if self.request.htmx:
            return self.render_rows(edit)
        meta_form = self.metadata_form(initial=self.posted_initial())
        return self.render_page(
            meta_form=meta_form,
            root=edit.root,
            focus=edit.focus.address,
            base_version=self.request.POST.get("base_version", ""),
        )

    def render_rows(self, edit: Edit) -> HttpResponse:
        audiences = selectors.builder_audience_options(exclude_slug=self.audience.slug if self.audience else None)
        view = build_row_view(edit.root, errors={}, audiences=audiences, focus=edit.focus.address)
        container = view.find(edit.container.address) or view
        response = render(
            self.request, "audiences/builder/_node.html", {"node": container, "form_action": self.form_action()}
        )
        # After the swap settles, so the preview reads the new rows (and from <body> when the button is gone).
        response["HX-Trigger-After-Settle"] = "builder-changed"
        return response

    def posted_initial(self) -> dict[str, Any]:
        post = self.request.POST
        initial: dict[str, Any] = {name: post.get(name, "") for name in META_FIELDS if name != "exclude"}
        initial["exclude"] = post.getlist("exclude")
        if self.audience is not None:
            initial["slug"] = self.audience.slug
        return initial

    def base_version(self) -> str:
        return ""

    def stale_version(self, base_version: str) -> str:
        return ""

    def render_page(
        self,
        *,
        meta_form: AudienceMetadataForm,
        root: Row,
        row_errors: dict[str, list[str]] | None = None,
        summary: list[SummaryItem] | None = None,
        focus: str | None = None,
        base_version: str = "",
        status: int = 200,
    ) -> HttpResponse:
        renumber(root)
        exclude, paired = self.preview_references(meta_form)
        preview = build_preview(
            root=root,
            exclude=exclude,
            paired_suppression=paired,
            slug=self.audience.slug if self.audience else None,
            now=timezone.now(),
        )
        audiences = selectors.builder_audience_options(exclude_slug=self.audience.slug if self.audience else None)
        tree = build_row_view(
            root, errors=row_errors or {}, audiences=audiences, focus=focus, sizes=preview.sizes_by_address
        )
        context = {
            "meta_form": meta_form,
            "tree": tree,
            "summary": summary or [],
            "preview": preview,
            "audience": self.audience,
            "form_action": self.form_action(),
            "base_version": base_version,
            "trait_names": selectors.builder_trait_names(),
            "event_names": selectors.builder_event_names(),
            "property_names": selectors.builder_property_names(),
            "intent_suggestions": INTENT_SUGGESTIONS,
            **self.extra_context(),
        }
        return render(self.request, self.template_name, context, status=status)

    def preview_references(self, meta_form: AudienceMetadataForm) -> tuple[list[str], str]:
        """The exclusions and paired suppression currently in the form (posted, else initial)."""
        if meta_form.is_bound:
            exclude, paired = list(meta_form.data.getlist("exclude")), meta_form.data.get("paired_suppression", "")
        else:
            exclude, paired = list(meta_form.initial.get("exclude") or []), meta_form.initial.get("paired_suppression")
        # Only what the selects can hold: a playbook may name a suppression that has not been created yet.
        known = {slug for slug, _label in meta_form.fields["exclude"].choices}
        suppressions = {slug for slug, _label in meta_form.fields["paired_suppression"].choices if slug}
        return [slug for slug in exclude if slug in known], paired if paired in suppressions else ""

    def extra_context(self) -> dict[str, Any]:
        return {}


class AudienceCreateView(BuilderView):
    """``/builder/new/`` (optionally ``?playbook=KEY&variant=V``): a new audience, blank or from a playbook."""

    permission_required = "audiences.add_audience"

    def initial_audience(self) -> dict[str, Any]:
        playbook = self.playbook()
        username = self.request.user.get_username()
        if playbook is not None:
            try:
                return playbook.audience(
                    owner=username, today=timezone.localdate(), variant=self.request.GET.get("variant", "")
                )
            except KeyError as exc:
                raise Http404(str(exc)) from exc
        return {
            "owner": username,
            "kind": "targeting",
            "objective": "ads",
            "offer": "none",
            "retire_on": default_retire_on().isoformat(),
            "rule": {"all": []},
        }

    def playbook(self) -> Playbook | None:
        key = self.request.GET.get("playbook") or self.request.POST.get("playbook") or ""
        if not key:
            return None
        if key not in PLAYBOOKS:
            raise Http404(f"no playbook {key!r}")
        return PLAYBOOKS[key]

    def form_action(self) -> str:
        return reverse("builder:new")

    def extra_context(self) -> dict[str, Any]:
        playbook = self.playbook()
        if playbook is None:
            return {"playbook": None, "missing_companions": []}
        companions = playbook_companions(playbook, owner=self.request.user.get_username(), today=timezone.localdate())
        existing = selectors.builder_existing_slugs(slugs=[item["slug"] for item in companions])
        return {
            "playbook": playbook,
            "playbook_variant": self.request.GET.get("variant")
            or self.request.POST.get("variant")
            or playbook.default_variant,
            "missing_companions": [item for item in companions if item["slug"] not in existing],
        }


class AudienceEditView(BuilderView):
    """``/builder/<slug>/edit/``: the latest version in the form; saving adds a version when it changed."""

    permission_required = "audiences.change_audience"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            self.audience = get_object_or_404(Audience.objects.select_related("owner"), slug=kwargs["slug"])
        return super().dispatch(request, *args, **kwargs)

    def latest(self):
        return audience_selectors.audience_latest_version(audience=self.audience)

    def initial_audience(self) -> dict[str, Any]:
        return audience_to_dict(audience=self.audience, version=self.latest())

    def latest_qa(self) -> list[dict[str, Any]]:
        latest = self.latest()
        return [dict(case) for case in latest.qa] if latest is not None and latest.qa else []

    def base_version(self) -> str:
        latest = self.latest()
        return str(latest.number) if latest is not None else ""

    def stale_version(self, base_version: str) -> str:
        current = self.base_version()
        if base_version and current and base_version != current:
            latest = self.latest()
            return (
                f"{self.audience.slug} changed while you were editing: it is now at version {current} "
                f"(by {latest.author.get_username()}). Nothing was saved; review the form and save again."
            )
        return ""

    def form_action(self) -> str:
        return reverse("builder:edit", kwargs={"slug": self.audience.slug})

    def extra_context(self) -> dict[str, Any]:
        return {"latest_version": self.latest(), "audience_url": audience_url(self.audience)}


# --- live preview -----------------------------------------------------------------------------------------


class BuilderPreviewView(PermissionRequiredMixin, View):
    """``POST /builder/preview/``: the preview panel for the posted form (htmx, on change, debounced)."""

    def has_permission(self) -> bool:
        user = self.request.user
        return user.has_perm("audiences.add_audience") or user.has_perm("audiences.change_audience")

    def post(self, request: HttpRequest) -> HttpResponse:
        root = renumber(form_data_to_row(request.POST))
        slug = request.GET.get("audience") or None
        if slug is not None and not Audience.objects.filter(slug=slug).exists():
            slug = None
        preview = build_preview(
            root=root,
            exclude=request.POST.getlist("exclude"),
            paired_suppression=request.POST.get("paired_suppression", ""),
            slug=slug,
            now=timezone.now(),
        )
        return render(request, "audiences/builder/_preview.html", {"preview": preview, "oob": True})


# --- playbooks --------------------------------------------------------------------------------------------


@dataclass
class PlaybookCard:
    playbook: Playbook
    text: str
    audience: dict[str, Any]
    companions: list[tuple[dict[str, Any], bool]]
    exists: bool

    @property
    def missing(self) -> list[dict[str, Any]]:
        return [item for item, present in self.companions if not present]


class PlaybookListView(PermissionRequiredMixin, View):
    """``/builder/playbooks/``: start an audience from a template, and create the audiences it relies on."""

    permission_required = "audiences.add_audience"

    def get(self, request: HttpRequest) -> HttpResponse:
        owner = request.user.get_username()
        today = timezone.localdate()
        cards = []
        for playbook in PLAYBOOKS.values():
            data = playbook.audience(owner=owner, today=today)
            companions = playbook_companions(playbook, owner=owner, today=today)
            existing = selectors.builder_existing_slugs(slugs=[data["slug"], *(item["slug"] for item in companions)])
            cards.append(
                PlaybookCard(
                    playbook=playbook,
                    text=definition_to_text(data),
                    audience=data,
                    companions=[(item, item["slug"] in existing) for item in companions],
                    exists=data["slug"] in existing,
                )
            )
        return render(request, "audiences/builder/playbooks.html", {"cards": cards})


class PlaybookCompanionsCreateView(PermissionRequiredMixin, View):
    """``POST /builder/playbooks/<key>/companions/``: create the audiences a playbook needs that are missing."""

    permission_required = "audiences.add_audience"

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        playbook = PLAYBOOKS.get(key)
        if playbook is None:
            raise Http404(f"no playbook {key!r}")
        companions = playbook_companions(playbook, owner=request.user.get_username(), today=timezone.localdate())
        existing = selectors.builder_existing_slugs(slugs=[item["slug"] for item in companions])
        missing = [item for item in companions if item["slug"] not in existing]
        if missing:
            result = audience_import(payload={"audiences": missing}, actor_or_username=request.user)
            if result.ok:
                names = ", ".join(f"{item['name']} ({item['slug']})" for item in missing)
                messages.success(request, f"Created {names}.")
            else:
                messages.error(
                    request, "Nothing was created: " + "; ".join(str(problem) for problem in result.problems)
                )
        else:
            messages.info(request, "The audiences this playbook relies on exist already.")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("builder:playbooks")
        return redirect(target)


def builder_home(request: HttpRequest) -> HttpResponse:
    """``/builder/``: the playbook picker is where a new audience starts (it links to a blank one too)."""
    return redirect("builder:playbooks")
