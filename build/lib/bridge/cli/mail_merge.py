"""Mail merge: a CSV of people in, the same CSV with each person's link columns out.

`read_sheet` checks the whole file before `write_sheet` writes a byte of it, so a mistake on
line 9,000 leaves no half-written file behind. Excel's own exports work as they are: "CSV
UTF-8" starts with a byte-order mark, and in many European locales it separates fields with
semicolons; both are kept in the output.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from bridge.consent import Identity
from bridge.identities import FIELDS, InvalidIdentity, identity
from bridge.links import Purpose

LINK_COLUMNS = tuple(f"{purpose.value}_url" for purpose in Purpose)  # unsubscribe_url, ...
DELIMITERS = (",", ";", "\t")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class BadSheet(ValueError):
    """A CSV that links cannot be added to; the message is one line naming where and why."""


@dataclass(frozen=True)
class Person:
    """One row: its first line in the file, its fields, and who it identifies."""

    line: int
    fields: list[str]
    identity: Identity


@dataclass(frozen=True)
class Sheet:
    """A checked CSV: its header, its people, and the format to write it back in."""

    header: list[str]
    people: list[Person]
    delimiter: str = ","
    bom: bool = False


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = len(_LINE_BREAK.findall(data, 0, exc.start)) + 1
        raise BadSheet(
            f'line {line} is not UTF-8 text; save the file as "CSV UTF-8" and try again'
        ) from None


def _identity_columns(header: Sequence[str]) -> dict[str, int]:
    """Where each identity column is; names match whatever their case and surrounding spaces."""
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = name.strip().lower()
        if key in FIELDS:
            if key in found:
                raise BadSheet(f"line 1 has two {key} columns")
            found[key] = index
    return found


def _delimiter(first_line: str) -> str:
    """The delimiter that splits the header line into a known identity column."""
    for delimiter in DELIMITERS:
        try:
            header = next(csv.reader([first_line], delimiter=delimiter, strict=True), [])
        except csv.Error:
            continue
        if any(name.strip().lower() in FIELDS for name in header):
            return delimiter
    wanted = ", ".join(FIELDS[:-1]) + " or " + FIELDS[-1]
    raise BadSheet(f"line 1 (the header) needs a column named {wanted}")


def _person(line: int, fields: list[str], columns: dict[str, int]) -> Person:
    # The most exact identity the row has, in the order links prefer; the rest stay as data.
    for name in FIELDS:
        if name in columns and fields[columns[name]].strip():
            value = fields[columns[name]]
            try:
                return Person(line, fields, identity(name, value))
            except InvalidIdentity as exc:
                raise BadSheet(f"line {line}: {name} {exc}") from None
    raise BadSheet(f"line {line} has no {' or '.join(columns)}")


def read_sheet(data: bytes) -> Sheet:
    """The people of a UTF-8 CSV file, every row checked; BadSheet names the first problem."""
    text = _text(data)
    stream = io.StringIO(text, newline="")
    first_line = stream.readline()
    if not first_line.strip():
        raise BadSheet("the file is empty" if not text.strip() else "line 1 (the header) is empty")
    delimiter = _delimiter(first_line)
    stream.seek(0)
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    line = 1
    try:
        header = next(reader)
        columns = _identity_columns(header)
        people = []
        line = reader.line_num + 1
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not any(field.strip() for field in fields):
                continue  # a blank line, or one of the empty rows spreadsheets leave behind
            if len(fields) > len(header):
                if any(field.strip() for field in fields[len(header) :]):
                    raise BadSheet(
                        f"line {start} has {len(fields)} fields but the header has {len(header)}"
                    )
                fields = fields[: len(header)]
            fields += [""] * (len(header) - len(fields))
            people.append(_person(start, fields, columns))
    except csv.Error as exc:
        raise BadSheet(f"line {line}: {exc}") from None
    return Sheet(header, people, delimiter, data.startswith(codecs.BOM_UTF8))


def write_sheet(sheet: Sheet, out: TextIO, links: Callable[[Identity], Sequence[str]]) -> None:
    """The sheet plus LINK_COLUMNS (`links` gives one URL per Purpose), in its own format."""
    if sheet.bom:
        out.write("\ufeff")
    writer = csv.writer(out, delimiter=sheet.delimiter)
    writer.writerow([*sheet.header, *LINK_COLUMNS])
    for person in sheet.people:
        writer.writerow([*person.fields, *links(person.identity)])
