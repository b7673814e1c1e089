"""`POST /forms/{form}`: signup and unsubscribe forms posted from marketers' sites.

- `routes`: the endpoint and the bridge's own thank-you page;
- `body`: the posted fields, urlencoded, multipart or JSON;
- `origins`: which sites may post (`Origin` / `Sec-Fetch-Site`);
- `cors`: preflights and headers for `fetch` from a form's own origins;
- `answers`: JSON for `fetch`, a 303 or a page for a browser, and the errors they share.

The forms themselves (settings, submissions, spam defences) are `bridge.forms`.
"""
