"""The form-based audience builder: the v1 condition tree as form rows, playbooks, and the builder pages.

- :mod:`.tree` converts a rule to flat form data and back (pure functions), and edits the tree of rows;
- :mod:`.forms` holds the metadata form and one small form per row kind, for rendering and labels;
- :mod:`.playbooks` pre-fills audiences from templates (cart recovery, browse tiers, ...);
- :mod:`.selectors` reads what the datalists and selects offer (known traits, events, audiences, owners);
- :mod:`.views` wires them to the services of :mod:`audience_ops.audiences.services`.
"""
