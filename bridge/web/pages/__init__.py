"""Pages for people: HTML in their language, branded, reached by signed links.

`unsubscribe` and `preferences` are the routes; `common` renders and picks the language;
`forms` reads posted forms; `same_origin` refuses browser POSTs another site started.
"""
