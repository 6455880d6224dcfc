"""The teaching layer: what a learner sees of portlab in the notebooks.

* :mod:`.theme`: colours by meaning, light and dark themes, :class:`~.theme.Chart`.
* :mod:`.charts`: figures by topic (registry, scans, timing, firewalls, NAT).
* :mod:`.widgets`: ipywidgets by topic (lookup, scan panel, packet stepper,
  firewall editor, NAT explorer, exercises).
* :mod:`.exercises`: checked exercises, hints, solutions and the learner's progress.
* :mod:`.machine`: what this machine allows (root, namespaces, nmap, a running lab),
  and so which modes a notebook can use.

Notebooks import what they need from the topic modules; nothing here is imported by
the scanner, so ``portlab scan`` never pays for matplotlib or ipywidgets.
"""
