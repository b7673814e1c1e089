"""Forms of the bridge's own (`[forms.NAME]`): their settings, submissions and spam defences.

`settings`: the tables, checked at start-up. `submission`: posted fields -> one consent
request with its proof, pure. `spam`: the honeypot and the signed fill time. `limits`: posts
per IP and per address. `layout`: the fields and types a form shows; `snippet`: its HTML to
paste into a site. The endpoint and hosted page that use them are `bridge.web.forms`.
"""

from .settings import DoubleOptIn, FieldNames, Form, FormAction, form_settings, load_forms

__all__ = ["DoubleOptIn", "FieldNames", "Form", "FormAction", "form_settings", "load_forms"]
