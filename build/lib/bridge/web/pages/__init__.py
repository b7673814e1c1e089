"""Pages for people: HTML in their language, branded, reached by signed links.

`unsubscribe` and `preferences` are the routes; `common` renders and picks the language;
`fields` reads posted form fields and scopes their nonces to the link; `same_origin` refuses
browser POSTs another site started.
"""
