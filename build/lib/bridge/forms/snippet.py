"""The HTML of a form to paste into a marketer's site: `bridge form snippet NAME`: pure.

The same fields as the hosted page (`layout`), labelled, with the consent text beside the
button and the honeypot out of sight, and no script. The `fetch` variant adds a few lines
that post the same fields as JSON and show the answer in place. There is no `_t` stamp: a
stamp is signed when a page is served, and a snippet pasted once is served for months, so
the fill-time check (which only applies to posts that carry `_t`) does not apply to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape

from .layout import Layout
from .settings import FormAction

# Off-screen rather than hidden: bots skip `type="hidden"` and `display: none` fields.
_OUT_OF_SIGHT = "position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden"

_FETCH_SCRIPT = """<script>
document.getElementById("{form_id}").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const form = event.target;
  const answer = form.querySelector("[role=status]");
  const fields = {{}};
  for (const [name, value] of new FormData(form)) {{
    if (name === "subscription") (fields[name] ||= []).push(value);
    else fields[name] = value;
  }}
  try {{
    const response = await fetch(form.action, {{
      method: "POST",
      headers: {{"Content-Type": "application/json", "Accept": "application/json"}},
      body: JSON.stringify(fields),
    }});
    const body = await response.json();
    answer.textContent = response.ok ? {thanks} : body.message;
    if (response.ok) form.reset();
  }} catch (error) {{
    answer.textContent = {failed};
  }}
}});
</script>"""


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _js(text: str) -> str:
    """A JavaScript string literal, safe inside a `<script>` element."""
    return json.dumps(text).replace("<", "\\u003c")


def _comment(shown: Layout, public_url: str, fetch: bool) -> list[str]:
    form = shown.form
    lines = [
        f'<!-- The form "{form.name}" of the Intercom consent bridge: paste it into your page.',
        "     There is no signed `_t` stamp here: the bridge signs one for",
        "     each view of its own page, and a pasted snippet cannot carry a fresh one, so the",
        "     fill-time check (which applies only to posts carrying `_t`) does not apply; the",
        "     honeypot, the origin check and the rate limits do.",
        f"     The bridge's own page for this form: {public_url}/forms/{form.name}",
    ]
    if form.origins:
        lines.append(f"     Sites allowed to post it (origins): {', '.join(form.origins)}.")
    else:
        lines.append(
            f"     No site may post it yet: add your site to [forms.{form.name}] origins, "
            "or every post from it is refused (403)."
        )
    if fetch:
        lines.append("     The script posts the fields as JSON and shows the answer in place.")
    else:
        lines.append("     It needs no script: the browser posts it and shows the thank-you page.")
    lines[-1] += " -->"
    return lines


def _choices(shown: Layout, t: Callable[..., str]) -> list[str]:
    form = shown.form
    lines = [f"  <fieldset>\n    <legend>{escape(t('forms.choose'))}</legend>"]
    if shown.offers is None:
        lines.append(
            "    <!-- The subscription type ids, as INTERCOM_ACCESS_TOKEN was not set (or\n"
            "         Intercom could not list them): write the names your readers know. -->"
        )
        offers = [(type_id, type_id) for type_id in form.types]
    else:
        offers = [(offer.id, offer.name) for offer in shown.offers]
    for type_id, name in offers:
        lines.append(
            f'    <label><input type="checkbox" name="subscription" value="{_attr(type_id)}"> '
            f"{escape(name)}</label><br>"
        )
    lines.append("  </fieldset>")
    return lines


def snippet(shown: Layout, public_url: str, t: Callable[..., str], *, fetch: bool = False) -> str:
    """The form's HTML (and, with `fetch`, its script), ready to paste."""
    form = shown.form
    names = form.fields
    form_id = f"bridge-{form.name}"
    action = f"{public_url}/forms/{form.name}"
    subscribe = form.action is FormAction.SUBSCRIBE
    lines = [
        *_comment(shown, public_url, fetch),
        f'<form id="{_attr(form_id)}" method="post" action="{_attr(action)}">',
        f'  <label>{escape(t("forms.email"))} <input type="email" name="{_attr(names.email)}"'
        ' autocomplete="email" required></label><br>',
    ]
    if form.action is not FormAction.MANAGE:  # a manage form asks for the address alone
        lines.append(
            f'  <label>{escape(t("forms.name"))} <input name="{_attr(names.name)}"'
            ' autocomplete="name" maxlength="200"></label><br>'
        )
    if shown.phone:
        lines.append(
            f'  <label>{escape(t("forms.phone"))} <input type="tel" '
            f'name="{_attr(names.phone)}" autocomplete="tel"></label><br>'
        )
    if form.choose:
        lines += _choices(shown, t)
    lines += [
        f'  <div style="{_OUT_OF_SIGHT}" aria-hidden="true">',
        f'    <label>{escape(t("forms.honeypot"))} <input name="{_attr(form.honeypot)}"'
        ' tabindex="-1" autocomplete="off"></label>',
        "  </div>",
    ]
    if form.consent_text:
        lines.append(f"  <p>{escape(form.consent_text)}</p>")
    button = t(f"forms.button_{form.action.value}")
    lines.append(f'  <button type="submit">{escape(button)}</button>')
    if fetch:
        lines.append('  <p role="status" aria-live="polite"></p>')
    lines.append("</form>")
    if fetch:
        done = t(
            "forms.link_sent"
            if form.action is FormAction.MANAGE
            else "forms.subscribed"
            if subscribe
            else "forms.unsubscribed"
        )
        failed = "The form could not be sent; please try again."
        script = _FETCH_SCRIPT.format(form_id=form_id, thanks=_js(done), failed=_js(failed))
        lines.append(script)
    return "\n".join(lines) + "\n"
